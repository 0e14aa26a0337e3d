"""Names the emitter writes to its event log and the DAC reads back: one place for each.

A slot's arrival verdicts, the selection strategies and fallbacks a pool may choose, and the
per-member delivery tally both the emitter's statistics and the DAC's audit count the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

SELECTED = "selected"
"""The arrival the emitter signed and emitted for its slot."""
VALID_VERDICTS = (SELECTED, "valid")
"""Verdicts of a delivery that was a valid block for its slot (emitted or not)."""
STRATEGY_NAMES = ("first_delivered", "best_fees", "fair_rotation")
"""The selection strategies a pool may choose (``emitter.core.strategies`` implements each)."""
FALLBACK_NAMES = ("local", "empty", "none")
"""What the emitter does at the cutoff when no valid candidate arrived."""


@dataclass
class DeliveryTally:
    """One member's deliveries in a range of slots."""

    deliveries: int = 0
    valid: int = 0
    wins: int = 0

    def add(self, verdict: str | None, n: int = 1) -> None:
        """Count ``n`` deliveries that got ``verdict``."""
        self.deliveries += n
        if verdict in VALID_VERDICTS:
            self.valid += n
        if verdict == SELECTED:
            self.wins += n


def compute_delivery_rank(verdict: object) -> int:
    """How a delivery counts: 2 selected, 1 valid (not selected), 0 anything else."""
    if verdict == SELECTED:
        return 2
    return 1 if verdict in VALID_VERDICTS else 0


RANKED_VERDICTS = {2: SELECTED, 1: "valid", 0: None}
"""A verdict standing for each rank (:func:`compute_delivery_rank`)."""


def compute_delivery_tallies(arrivals: Iterable[Mapping[str, object]]) -> dict[str, DeliveryTally]:
    """Per member, its deliveries, valid ones and wins, from arrival events (``member``,
    ``slot``, ``verdict``). A member's deliveries for one slot count once, by the best of their
    verdicts (selected, else valid, else a rejection): in an emitter group a member may deliver
    one block to several instances, each of which logs its arrival. An arrival without a slot
    (a body that did not parse) counts on its own."""
    best: dict[tuple[str, object], int] = {}
    tallies: dict[str, DeliveryTally] = {}
    for i, event in enumerate(arrivals):
        member = str(event["member"])
        slot = event.get("slot")
        key = (member, slot if slot is not None else ("unslotted", i))
        best[key] = max(best.get(key, 0), compute_delivery_rank(event.get("verdict")))
    for (member, _), rank in best.items():
        tallies.setdefault(member, DeliveryTally()).add(RANKED_VERDICTS[rank])
    return tallies
