"""What the DAC needs from the pool service hosting it: a narrow interface (a Protocol),
so the DAC never depends on the emitter's internals (the emitter satisfies it)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

from sqlalchemy.engine import Engine

from chain.client.follower import ChainFollower
from chain.core import Genesis, PrivateKey
from service_shell.clock import Clock
from service_shell.supervisor import Supervisor


class EventLog(Protocol):
    def member_metrics(self, start_slot: int, end_slot: int) -> tuple[int, dict[str, dict[str, int]]]: ...

    def pool_slot_numbers(self, start_slot: int, end_slot: int) -> list[int]: ...

    def feed_openings(self, end_slot: int) -> list[int]: ...

    def existing_event_ids(self, ids: Iterable[int]) -> set[int]: ...


class PoolHost(Protocol):
    engine: Engine
    follower: ChainFollower
    genesis: Genesis
    chain_id: str
    pool: str
    pool_key: PrivateKey
    clock: Clock
    members: dict[str, dict[str, Any]]
    constitution_text: str
    constitution_hash: str
    event_log: EventLog
    extensions: list[Any]
    application_hooks: list[Callable[[str], None]]
    admission_by_vote: bool
    pushers: list[Any]
    settings: Any
    metrics: Any
    supervisor: Supervisor

    def authenticate_request(
        self, headers: Mapping[str, str], *, method: str, path: str, body: bytes, require_active: bool = True
    ) -> dict[str, Any]: ...

    def set_status(self, account: str, action: str, *, by: str = "admin") -> dict[str, Any]: ...

    def set_parameter(self, name: str, value: str) -> None: ...

    def set_constitution(self, text: str) -> str: ...

    def set_member_constitution(self, account: str, constitution_hash: str) -> None: ...
