"""What the DAC needs from the pool service hosting it, so the DAC never depends on the
emitter's internals.

:class:`PoolService` is the pool service as the DAC sees it (the emitter satisfies it): live
state read through properties, changes made through its methods. :class:`PoolHost` is built
once when the DAC is installed (:func:`pool_dac.extension.install`) and passed in; it is
frozen, and the DAC writes nothing into the pool service but through these methods.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from prometheus_client import CollectorRegistry
from sqlalchemy.engine import Engine

from chain.client.follower import ChainFollower
from chain.core import Genesis, PrivateKey
from service_shell.clock import Clock
from service_shell.supervisor import Supervisor


class EventLog(Protocol):
    """The pool's event log, read for epoch metrics and dispute evidence."""

    def member_metrics(self, start_slot: int, end_slot: int) -> tuple[int, dict[str, dict[str, int]]]: ...

    def pool_slot_numbers(self, start_slot: int, end_slot: int) -> list[int]: ...

    def feed_openings(self, end_slot: int) -> list[int]: ...

    def existing_event_ids(self, ids: Iterable[int]) -> set[int]: ...


class PoolService(Protocol):
    """The pool service's live state and the changes the DAC asks of it."""

    @property
    def members(self) -> Mapping[str, Mapping[str, Any]]: ...

    @property
    def constitution_text(self) -> str: ...

    @property
    def constitution_hash(self) -> str: ...

    def authenticate_request(
        self, headers: Mapping[str, str], *, method: str, path: str, body: bytes, require_active: bool = True
    ) -> dict[str, Any]: ...

    def set_status(self, account: str, action: str, *, by: str = "admin") -> dict[str, Any]: ...

    def set_parameter(self, name: str, value: str) -> None: ...

    def set_constitution(self, text: str) -> str: ...

    def set_member_constitution(self, account: str, constitution_hash: str) -> None: ...

    def adopt_parameters(self, strategy: str, fallback: str) -> None:
        """Put the DAC's stored strategy and fallback in force (at start: no parameter event)."""

    def leads(self) -> bool:
        """This instance runs the scheduled jobs (in a group: it holds the lease)."""


@dataclass(frozen=True)
class PoolHost:
    """What the DAC uses of its pool service: fixed parts, and the service for live state."""

    service: PoolService
    engine: Engine
    follower: ChainFollower
    genesis: Genesis
    chain_id: str
    pool: str
    pool_key: PrivateKey
    clock: Clock
    event_log: EventLog
    supervisor: Supervisor
    registry: CollectorRegistry
    node_url: str

    @property
    def members(self) -> Mapping[str, Mapping[str, Any]]:
        """The pool's members by account, as the pool service holds them now."""
        return self.service.members

    @property
    def constitution_text(self) -> str:
        """The text of the constitution in force."""
        return self.service.constitution_text

    @property
    def constitution_hash(self) -> str:
        """The hash of the constitution in force (members sign it to be active)."""
        return self.service.constitution_hash
