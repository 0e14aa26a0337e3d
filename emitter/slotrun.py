"""The open pool slot's records: its deliveries (``Candidate``) and the run (``SlotRun``),
the pool's slot timing, and the arrival event of a delivery with its verdict."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from chain.core import Block, compute_slot_at
from emitter.crud import EventRecord
from service_shell.clock import Clock


@dataclass
class Candidate:
    """One delivery of the open slot."""

    seq: int
    member: str
    block: Block
    arrival_ms: int
    offset_ms: int
    fees: int
    valid: bool | None = None
    verdict: str | None = None
    reason: str = ""

    @property
    def block_id(self) -> str:
        """The delivered block's id."""
        return self.block.id

    @property
    def prev_id(self) -> str:
        """The parent it was built on."""
        return self.block.header.prev_id


@dataclass
class SlotRun:
    """The pool slot being collected."""

    slot: int
    start_ms: int
    cutoff_at_ms: int
    prev_id: str
    height: int
    opened_ms: int
    candidates: list[Candidate] = field(default_factory=list)
    by_member: dict[str, Candidate] = field(default_factory=dict)
    emitted: Block | None = None
    emitted_undo: list[Any] = field(default_factory=list)
    source: str | None = None
    winner: str | None = None
    reason: str = ""
    accepted_by: str | None = None  # the node that took the emitted block (recorded at close)
    # The slot's claim (``emitter.claims``) once known: ours when we won it, another
    # instance's when we lost it. ``settled``: the slot's decision was made, here or elsewhere
    # in the group (claimed by another instance, declared missed, refused): nothing is
    # decided for it here any more.
    claim: dict[str, Any] | None = None
    settled: bool = False
    emitting: bool = False  # an emission is claiming and recording (the replica lock held)
    closed: bool = False
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    # Verdicts by candidate content (``emitter.expected.content_of``): candidates built from
    # one mempool differ only in their builder. Part of the one validation memo
    # (``emitter.expected.ContentMemo``), kept with the run it belongs to.
    verdicts: dict[tuple[Any, ...], tuple[str, str]] = field(default_factory=dict)
    # The node validates each distinct candidate content in parallel with us (prepare).
    # True: prepared at the node; False: not prepared; None: the node did not answer.
    prepares: dict[tuple[Any, ...], asyncio.Task[bool | None]] = field(default_factory=dict)

    @property
    def decided(self) -> bool:
        """The slot has its block (emitted here or by another instance), or its decision was
        made elsewhere: nothing is decided for it here any more."""
        return self.emitted is not None or self.settled


@dataclass(frozen=True)
class Timing:
    """The chain's slot times, read on the service's clock."""

    clock: Clock
    genesis_time: int
    slot_ms: int

    def slot_start(self, slot: int) -> int:
        """When ``slot`` starts (ms)."""
        return self.genesis_time + slot * self.slot_ms

    def current_slot(self) -> int:
        """The slot the clock is in."""
        return compute_slot_at(self.genesis_time, self.slot_ms, self.clock.now_ms())


def with_verdict(event: EventRecord, verdict: str, reason: str) -> EventRecord:
    """``event`` (an arrival) with its verdict and reason."""
    return EventRecord(
        kind=event.kind,
        ts_ms=event.ts_ms,
        slot=event.slot,
        member=event.member,
        block_id=event.block_id,
        offset_ms=event.offset_ms,
        verdict=verdict,
        reason=reason,
        fees=event.fees,
        tx_count=event.tx_count,
    )
