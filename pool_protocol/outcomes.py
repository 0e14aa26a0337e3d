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


def compute_delivery_tallies(arrivals: Iterable[Mapping[str, object]]) -> dict[str, DeliveryTally]:
    """Per member, its deliveries, valid ones and wins, from arrival events (``member``, ``verdict``)."""
    tallies: dict[str, DeliveryTally] = {}
    for event in arrivals:
        verdict = event.get("verdict")
        tallies.setdefault(str(event["member"]), DeliveryTally()).add(
            verdict if isinstance(verdict, str) else None
        )
    return tallies
