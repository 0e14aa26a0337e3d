"""Candidate intake, the pure part: the cheap checks a delivery passes before validation, and
the verdict a validation failure earns (no I/O, no clock: times and state come in).

The checks run cheapest first and the first failure is the verdict, with a message naming
the failed check. A verdict refuses the candidate either for what it is (``INVALID``: a
block that could never fill the slot) or for the slot's state (``CONFLICTS``: the slot is
not open, the member delivered already, the parent moved).

Spec: ``docs/spec/pool.md`` §6 (delivery: the order of the checks).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from chain.core.containers import BlockHeader
from chain.core.errors import (
    BadBuilderSignature,
    ChainError,
    InvalidTransaction,
    StateRootMismatch,
    WrongParent,
)
from pool_protocol.outcomes import VALID_VERDICTS

CONFLICTS = frozenset({"wrong_slot", "late", "duplicate", "equivocation", "wrong_parent"})
"""Verdicts that refuse a candidate for the slot's state, not for the block itself."""
ACCEPTED_VERDICTS = (*VALID_VERDICTS, "valid_unchecked")
"""Verdicts of a delivery the member is answered as taken (valid, emitted or not)."""


class Delivered(Protocol):
    """A candidate already delivered for the open slot."""

    @property
    def block_id(self) -> str: ...
    @property
    def prev_id(self) -> str: ...


class OpenSlot(Protocol):
    """What the checks read of the open pool slot."""

    @property
    def slot(self) -> int: ...
    @property
    def start_ms(self) -> int: ...
    @property
    def cutoff_at_ms(self) -> int: ...
    @property
    def prev_id(self) -> str: ...
    @property
    def closed(self) -> bool: ...
    @property
    def by_member(self) -> Mapping[str, Delivered]: ...


def compute_precheck(
    *,
    member: str,
    header: BlockHeader,
    block_id: str,
    pool: str,
    run: OpenSlot | None,
    arrival_ms: int,
    closed_through: int,
    cutoff_ms: int,
) -> tuple[str | None, str]:
    """The cheap checks, in order: ``(verdict, reason)`` of the first that fails, or
    ``(None, "")`` when the candidate may be validated. ``closed_through`` is the last slot
    known closed (by the emitter or by the chain)."""
    # Verify it is a block for the pool
    if header.producer != pool:
        return "wrong_producer", f"the producer must be the pool account {pool}, not {header.producer}"
    # Verify the member built it
    if header.builder != member:
        return "builder_mismatch", f"the builder {header.builder} is not the requesting member {member}"
    # Verify it is for the open slot
    if run is None or header.slot != run.slot:
        if header.slot <= closed_through:
            return "late", f"slot {header.slot} is closed"
        open_slot = f"the open slot is {run.slot}" if run else "no pool slot is open"
        return "wrong_slot", f"slot {header.slot} is not open; {open_slot}"
    # Verify it arrived before the cutoff
    if arrival_ms > run.cutoff_at_ms or run.closed:
        return (
            "late",
            f"arrived {arrival_ms - run.start_ms} ms into slot {run.slot}, after the {cutoff_ms} ms cutoff",
        )
    # Verify it is the member's only candidate for the slot on its parent (after the slot
    # re-opened on a new parent, a block built on it replaces one built on the old parent)
    first = run.by_member.get(member)
    if first is not None and first.prev_id == run.prev_id:
        if first.block_id == block_id:
            return "duplicate", f"block {block_id[:16]}… was already delivered for slot {run.slot}"
        return "equivocation", (
            f"{member} already delivered {first.block_id[:16]}… for slot {run.slot}; "
            "both are kept as evidence"
        )
    # Verify it builds on the slot's parent
    if header.prev_id != run.prev_id:
        return "wrong_parent", f"prev_id {header.prev_id[:16]}… is not the head {run.prev_id[:16]}…"
    return None, ""


def verdict_for(exc: ChainError) -> str:
    """The arrival verdict for a validation failure."""
    if isinstance(exc, StateRootMismatch):
        return "state_root_mismatch"
    if isinstance(exc, BadBuilderSignature):
        return "bad_builder_signature"
    if isinstance(exc, WrongParent):
        return "wrong_parent"
    if isinstance(exc, InvalidTransaction):
        return "invalid_transaction"
    return exc.code


def is_conflict(verdict: str) -> bool:
    """Whether ``verdict`` refuses a candidate for the slot's state rather than for itself."""
    return verdict in CONFLICTS
