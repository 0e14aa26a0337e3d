"""Selection strategies: pure functions from a slot's arrival records to a decision.

Each strategy sees every arrival of the open slot (in arrival order, with its validation
verdict once known) and a view of the slot's clock, and answers one of:

* ``emit`` a block id now;
* ``wait`` (for a validation, a better candidate, the member whose turn it is, or the cutoff);
* ``fallback``: the cutoff has passed and nothing valid is to be emitted.

``first_delivered`` (default, the pool concept's rule): validate in arrival order and emit the
first valid candidate at once, without waiting for the window to close.
``best_fees``: wait for the cutoff (or for every active member to have delivered), then emit
the valid candidate with the highest total fees; the earliest arrival wins ties.
``fair_rotation``: the member whose turn it is (``members[slot % n]``, members sorted by
name) is preferred if it delivers a valid candidate within the grace period; otherwise the
first valid delivery.

Spec: ``docs/spec/pool.md`` §6 (delivery and the strategies).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from pool_protocol.outcomes import FALLBACK_NAMES

Action = Literal["emit", "wait", "fallback"]


@dataclass(frozen=True)
class Arrival:
    """One candidate as the strategy sees it. ``valid`` is None until validated."""

    seq: int
    member: str
    block_id: str
    offset_ms: int
    valid: bool | None
    fees: int = 0


@dataclass(frozen=True)
class SlotView:
    """The open slot: its number, how far into it we are, and the pool's active members."""

    slot: int
    now_offset_ms: int
    cutoff_ms: int
    grace_ms: int
    members: tuple[str, ...]


@dataclass(frozen=True)
class Decision:
    action: Action
    block_id: str | None = None
    reason: str = ""


Strategy = Callable[[Sequence[Arrival], SlotView], Decision]


def _in_order(arrivals: Sequence[Arrival]) -> list[Arrival]:
    return sorted(arrivals, key=lambda a: a.seq)


def is_past_cutoff(view: SlotView) -> bool:
    """True once the slot's cutoff has been reached."""
    return view.now_offset_ms >= view.cutoff_ms


def first_delivered(arrivals: Sequence[Arrival], view: SlotView) -> Decision:
    """Emit the first valid delivery, validating in arrival order."""
    for arrival in _in_order(arrivals):
        if arrival.valid is None:
            return Decision("wait", reason=f"validate {arrival.block_id[:16]}… first (arrival order)")
        if arrival.valid:
            return Decision("emit", arrival.block_id, f"first valid delivery ({arrival.member})")
    if is_past_cutoff(view):
        return Decision("fallback", reason="no valid candidate by the cutoff")
    return Decision("wait", reason="no valid candidate yet")


def best_fees(arrivals: Sequence[Arrival], view: SlotView) -> Decision:
    """At the cutoff (or once every active member delivered), the highest-fee valid candidate."""
    ordered = _in_order(arrivals)
    if any(a.valid is None for a in ordered):
        return Decision("wait", reason="validating deliveries")
    delivered = {a.member for a in ordered}
    everyone = bool(view.members) and set(view.members) <= delivered
    if not is_past_cutoff(view) and not everyone:
        return Decision("wait", reason="collecting deliveries until the cutoff")
    valid = [a for a in ordered if a.valid]
    if not valid:
        if is_past_cutoff(view):
            return Decision("fallback", reason="no valid candidate by the cutoff")
        return Decision("wait", reason="no valid candidate yet")
    best = max(valid, key=lambda a: (a.fees, -a.seq))
    return Decision("emit", best.block_id, f"highest fees {best.fees} ({best.member})")


def compute_turn(slot: int, members: Sequence[str]) -> str | None:
    """The member whose turn ``slot`` is under fair rotation."""
    ordered = sorted(members)
    return ordered[slot % len(ordered)] if ordered else None


def fair_rotation(arrivals: Sequence[Arrival], view: SlotView) -> Decision:
    """Prefer the member whose turn it is within the grace period, else the first valid."""
    turn = compute_turn(view.slot, view.members)
    ordered = _in_order(arrivals)
    turn_failed = False
    for arrival in ordered:
        if arrival.member != turn:
            continue
        if arrival.valid is None:
            return Decision("wait", reason=f"validate the delivery of {turn}, whose turn it is")
        if arrival.valid:
            return Decision("emit", arrival.block_id, f"{turn}'s turn")
        turn_failed = True
    if not turn_failed and view.now_offset_ms < view.grace_ms and turn is not None:
        return Decision("wait", reason=f"grace period for {turn}, whose turn it is")
    return first_delivered(arrivals, view)


STRATEGIES: dict[str, Strategy] = {
    "first_delivered": first_delivered,
    "best_fees": best_fees,
    "fair_rotation": fair_rotation,
}
FALLBACKS = FALLBACK_NAMES
