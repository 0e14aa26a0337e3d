"""Signed governance messages of the pool protocol: ballots, constitution signatures and
arbitration rulings (the DAC checks them; members and arbitrators sign them).

Each is the canonical JSON of its fields, signed with ed25519 under its own domain, with the
chain id and the pool account inside, like every bppool message (Snapshot-style typed,
domain-separated votes).

Spec: ``docs/spec/encoding.md`` (signed messages).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

from chain.core.types import validate_account_name, validate_hash, validate_signature, validate_str
from pool_protocol.domains import DOMAIN_CONSTITUTION, DOMAIN_RULING, DOMAIN_VOTE
from pool_protocol.signed import Parser, SignedDocument, integer, one_of

CHOICES = ("yes", "no", "abstain")
DECISIONS = ("dismiss", "penalty", "forfeit", "remove")
MAX_FUTURE_MS = 300_000


@dataclass(frozen=True)
class Ballot(SignedDocument):
    """A member's vote on a proposal."""

    DOMAIN: ClassVar[bytes] = DOMAIN_VOTE
    KIND: ClassVar[str] = "ballot"
    PREFIX: ClassVar[str] = "ballot."
    PARSERS: ClassVar[Mapping[str, Parser]] = {
        "choice": one_of(CHOICES),
        "chain_id": validate_hash,
        "pool": validate_account_name,
        "proposal_id": integer(1, 2**53),
        "voter": validate_account_name,
        "timestamp": integer(0, 2**53),
        "signature": validate_signature,
    }

    chain_id: str
    pool: str
    proposal_id: int
    voter: str
    choice: str
    timestamp: int
    signature: str = ""


@dataclass(frozen=True)
class ConstitutionSignature(SignedDocument):
    """A member's acceptance of one constitution version."""

    DOMAIN: ClassVar[bytes] = DOMAIN_CONSTITUTION
    KIND: ClassVar[str] = "constitution signature"
    PARSERS: ClassVar[Mapping[str, Parser]] = {
        "chain_id": validate_hash,
        "pool": validate_account_name,
        "member": validate_account_name,
        "version": integer(1, 2**31),
        "hash": validate_hash,
        "timestamp": integer(0, 2**53),
        "signature": validate_signature,
    }

    chain_id: str
    pool: str
    member: str
    version: int
    hash: str
    timestamp: int
    signature: str = ""


@dataclass(frozen=True)
class Ruling(SignedDocument):
    """The arbitrator's decision on a dispute."""

    DOMAIN: ClassVar[bytes] = DOMAIN_RULING
    KIND: ClassVar[str] = "ruling"
    PREFIX: ClassVar[str] = ""
    PARSERS: ClassVar[Mapping[str, Parser]] = {
        "decision": lambda value, _: one_of(DECISIONS)(value, "ruling.decision"),
        "chain_id": validate_hash,
        "pool": validate_account_name,
        "dispute_id": integer(1, 2**53),
        "arbitrator": validate_account_name,
        "penalty_bps": integer(0, 10_000),
        "epoch": integer(0, 2**53),
        "reason": lambda value, where: validate_str(value, where, max_length=2000),
        "timestamp": integer(0, 2**53),
        "signature": validate_signature,
    }

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
