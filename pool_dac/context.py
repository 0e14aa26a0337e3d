"""The state the DAC's parts share: its host, settings, parameters in force and constitution
version, and the membership rules every part applies (who is active, with what vote weight)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, Self, TypeVar

from sqlalchemy.engine import Engine

from chain.core.errors import MalformedInput
from pool_dac.config import DacSettings
from pool_dac.core.errors import Malformed, NotAMember, NotEligible, StaleMessage
from pool_dac.core.params import Parameters
from pool_dac.host import PoolHost
from pool_protocol.messages import MAX_FUTURE_MS

MAX_PAST_MS = 600_000  # how old a signed document may be when it arrives


class Document(Protocol):
    """A signed document of the wire protocol (a ballot, a ruling, a constitution signature)."""

    @classmethod
    def from_dict(cls, data: Any) -> Self: ...


D = TypeVar("D", bound=Document)


def read_document(kind: type[D], data: Any) -> D:
    """``data`` parsed as a ``kind`` document, or :class:`Malformed` naming the field."""
    try:
        return kind.from_dict(data)
    except MalformedInput as exc:
        raise Malformed(exc.message) from None


@dataclass
class DacContext:
    """One DAC's shared state; ``params`` and ``constitution_version`` change as proposals
    execute (and are loaded from the database at start)."""

    host: PoolHost
    settings: DacSettings
    params: Parameters = field(default_factory=Parameters)
    constitution_version: int = 1

    @property
    def engine(self) -> Engine:
        """The pool service's database (the DAC's tables live beside the emitter's)."""
        return self.host.engine

    def now(self) -> int:
        """Wall time in milliseconds (the host's clock)."""
        return self.host.clock.now_ms()

    def is_active(self, account: str) -> bool:
        """Admitted, and signed the latest constitution."""
        member = self.host.members.get(account)
        return (
            member is not None
            and member["status"] == "active"
            and (member["constitution_hash"] == self.host.constitution_hash)
        )

    def active_members(self) -> list[str]:
        """The active members, by account name."""
        return sorted(a for a in self.host.members if self.is_active(a))

    def vote_weights(self) -> dict[str, int]:
        """Eligible voters and their weights (one member one vote, or delegated stake)."""
        members = self.active_members()
        if self.params.vote_weight == "member":
            return dict.fromkeys(members, 1)
        state = self.host.follower.state
        weights = dict.fromkeys(members, 0)
        for producer in state.producers.rows.values():
            for delegator, amount in producer.delegations:
                if delegator in weights:
                    weights[delegator] += amount
        return weights

    def require_active(self, account: str) -> None:
        """Raise unless ``account`` is an active member."""
        if account not in self.host.members:
            raise NotAMember(f"{account} is not a member of pool {self.host.pool}")
        if not self.is_active(account):
            raise NotEligible(f"{account} must be an active member who signed the latest constitution")

    def check_fresh(self, timestamp: int) -> None:
        """Raise unless a signed document's ``timestamp`` is close to now."""
        now = self.now()
        if timestamp > now + MAX_FUTURE_MS or timestamp < now - MAX_PAST_MS:
            raise StaleMessage("the message timestamp is too far from now")
