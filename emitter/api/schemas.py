"""Schemas of the pool service's API, for its OpenAPI (routes answer with orjson and the
intake and signed documents are parsed by hand; see :mod:`service_shell.apidocs`)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from chain.core.types import ACCOUNT_NAME_PATTERN, HASH_PATTERN, PUBLIC_KEY_PATTERN, SIGNATURE_PATTERN
from service_shell.apidocs import Open
from service_shell.web import Int64


class PoolInfo(Open):
    """The pool: account, chain, strategy, fallback, timing, constitution, next slots."""

    pool: str
    chain_id: str
    strategy: str
    fallback: str
    slot_ms: int
    cutoff_ms: int
    grace_ms: int
    genesis_time: int
    constitution_hash: str
    in_schedule: bool
    head_block_num: int
    head_block_id: str
    open_slot: int | None
    next_pool_slots: list[int]
    members: int
    ready: bool
    instance: str
    leader: str | None


class Application(BaseModel):
    """A signed application to join (signed under ``bppool/application/v1`` by the applicant)."""

    chain_id: str = Field(pattern=HASH_PATTERN)
    pool: str = Field(pattern=ACCOUNT_NAME_PATTERN)
    account: str = Field(pattern=ACCOUNT_NAME_PATTERN)
    public_key: str = Field(pattern=PUBLIC_KEY_PATTERN)
    endpoint: str = Field(max_length=512)
    constitution_hash: str = Field(pattern=HASH_PATTERN)
    timestamp: Int64
    signature: str = Field(pattern=SIGNATURE_PATTERN)


class MemberStatus(Open):
    """A member's account and status."""

    account: str
    status: str


class MemberRow(MemberStatus):
    """A member with its statistics."""

    endpoint: str
    public_key: str
    stats: dict[str, Any]


class Members(Open):
    """Every member."""

    members: list[MemberRow]


class Me(MemberStatus):
    """The requesting member."""

    stats: dict[str, Any]


class OpenSlot(Open):
    """The open pool slot."""

    slot: int
    height: int
    prev_id: str
    slot_start_ms: int
    deadline_ms: int
    pool: str
    emitted: bool


class CurrentSlot(Open):
    """The open pool slot (or null) and the next pool slots."""

    open: OpenSlot | None
    next_pool_slots: list[int]


class SlotOutcomes(Open):
    """Recent slot outcomes, newest first."""

    slots: list[dict[str, Any]]


class Verdict(Open):
    """A delivery's verdict; ``emitted_block_id`` is the block the slot got, when known (in a
    group, another instance may have emitted it: maybe this very block, delivered there too)."""

    slot: int
    block_id: str
    verdict: str
    selected: bool
    offset_ms: int
    emitted_block_id: str | None


class Event(Open):
    """One event of the log (``data`` depends on ``kind``)."""

    id: int
    kind: str


class Events(Open):
    """A page of the event log."""

    events: list[Event]
    next_after_id: int


class Evidence(Open):
    """Candidates kept as evidence."""

    evidence: list[dict[str, Any]]


class GroupInstance(Open):
    """An instance of the pool service on the group's database."""

    instance: str
    url: str
    alive: bool
    seen_ms_ago: int
    leader: bool


class GroupLeader(Open):
    """The lease: its holder, fencing epoch and time left (database clock)."""

    instance: str | None
    url: str | None
    epoch: int
    expires_in_ms: int


class Signing(Open):
    """The pool key's signing guard: the highest slot claimed (or seen signed on the chain),
    the operator's ceiling and the newest pool block slot the chain was seen to hold."""

    watermark: int | None
    ceiling: int | None
    chain_slot: int | None


class Group(Open):
    """The emitter group as this instance sees it."""

    shared: bool
    instance: str
    leads: bool
    leader: GroupLeader | None
    size: int
    instances: list[GroupInstance]
    signing: Signing
