"""Signed governance messages of the pool protocol: ballots, constitution signatures and
arbitration rulings (the DAC checks them; members and arbitrators sign them).

Each is the canonical JSON of its fields, signed with ed25519 under its own domain, with the
chain id and the pool account inside, like every bppool message (Snapshot-style typed,
domain-separated votes).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any, ClassVar, Self

from chain.core.codec import canonical_bytes_trusted
from chain.core.crypto import PrivateKey, verify_signature
from chain.core.errors import MalformedInput
from chain.core.types import (
    validate_account_name,
    validate_hash,
    validate_int,
    validate_object,
    validate_signature,
    validate_str,
)
from pool_protocol.domains import DOMAIN_CONSTITUTION, DOMAIN_RULING, DOMAIN_VOTE

CHOICES = ("yes", "no", "abstain")
DECISIONS = ("dismiss", "penalty", "forfeit", "remove")
MAX_FUTURE_MS = 300_000


class SignedMessage:
    """What every signed governance message shares: its body is its fields but the signature,
    signed under the class's domain. Subclasses are frozen dataclasses with ``signature`` last."""

    DOMAIN: ClassVar[bytes] = b""
    signature: str

    def body(self) -> dict[str, Any]:
        data = asdict(self)  # type: ignore[call-overload]
        del data["signature"]
        return data  # type: ignore[no-any-return]

    def payload(self) -> bytes:
        return canonical_bytes_trusted(self.body())

    def signed(self, key: PrivateKey) -> Self:
        return replace(self, signature=key.sign(self.DOMAIN, self.payload()))  # type: ignore[type-var]

    def verify(self, public_key: str) -> bool:
        return verify_signature(public_key, self.DOMAIN, self.payload(), self.signature)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload, no-any-return]


@dataclass(frozen=True)
class Ballot(SignedMessage):
    """A member's vote on a proposal."""

    DOMAIN: ClassVar[bytes] = DOMAIN_VOTE

    chain_id: str
    pool: str
    proposal_id: int
    voter: str
    choice: str
    timestamp: int
    signature: str = ""

    @classmethod
    def from_dict(cls, data: Any) -> Ballot:
        keys = {"chain_id", "pool", "proposal_id", "voter", "choice", "timestamp", "signature"}
        validate_object(data, "ballot", keys, keys)
        if data["choice"] not in CHOICES:
            raise MalformedInput(f"ballot.choice: must be one of {', '.join(CHOICES)}")
        return cls(
            chain_id=validate_hash(data["chain_id"], "ballot.chain_id"),
            pool=validate_account_name(data["pool"], "ballot.pool"),
            proposal_id=validate_int(data["proposal_id"], "ballot.proposal_id", minimum=1, maximum=2**53),
            voter=validate_account_name(data["voter"], "ballot.voter"),
            choice=data["choice"],
            timestamp=validate_int(data["timestamp"], "ballot.timestamp", maximum=2**53),
            signature=validate_signature(data["signature"], "ballot.signature"),
        )


@dataclass(frozen=True)
class ConstitutionSignature(SignedMessage):
    """A member's acceptance of one constitution version."""

    DOMAIN: ClassVar[bytes] = DOMAIN_CONSTITUTION

    chain_id: str
    pool: str
    member: str
    version: int
    hash: str
    timestamp: int
    signature: str = ""

    @classmethod
    def from_dict(cls, data: Any) -> ConstitutionSignature:
        keys = {"chain_id", "pool", "member", "version", "hash", "timestamp", "signature"}
        validate_object(data, "constitution signature", keys, keys)
        return cls(
            chain_id=validate_hash(data["chain_id"], "chain_id"),
            pool=validate_account_name(data["pool"], "pool"),
            member=validate_account_name(data["member"], "member"),
            version=validate_int(data["version"], "version", minimum=1, maximum=2**31),
            hash=validate_hash(data["hash"], "hash"),
            timestamp=validate_int(data["timestamp"], "timestamp", maximum=2**53),
            signature=validate_signature(data["signature"]),
        )


@dataclass(frozen=True)
class Ruling(SignedMessage):
    """The arbitrator's decision on a dispute."""

    DOMAIN: ClassVar[bytes] = DOMAIN_RULING

    chain_id: str
    pool: str
    dispute_id: int
    arbitrator: str
    decision: str
    penalty_bps: int
    epoch: int
    reason: str
    timestamp: int
    signature: str = ""

    @classmethod
    def from_dict(cls, data: Any) -> Ruling:
        keys = {
            "chain_id",
            "pool",
            "dispute_id",
            "arbitrator",
            "decision",
            "penalty_bps",
            "epoch",
            "reason",
            "timestamp",
            "signature",
        }
        validate_object(data, "ruling", keys, keys)
        if data["decision"] not in DECISIONS:
            raise MalformedInput(f"ruling.decision: must be one of {', '.join(DECISIONS)}")
        return cls(
            chain_id=validate_hash(data["chain_id"], "chain_id"),
            pool=validate_account_name(data["pool"], "pool"),
            dispute_id=validate_int(data["dispute_id"], "dispute_id", minimum=1, maximum=2**53),
            arbitrator=validate_account_name(data["arbitrator"], "arbitrator"),
            decision=data["decision"],
            penalty_bps=validate_int(data["penalty_bps"], "penalty_bps", maximum=10_000),
            epoch=validate_int(data["epoch"], "epoch", maximum=2**53),
            reason=validate_str(data["reason"], "reason", max_length=2000),
            timestamp=validate_int(data["timestamp"], "timestamp", maximum=2**53),
            signature=validate_signature(data["signature"]),
        )
