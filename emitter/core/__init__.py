"""The emitter's pure core: selection strategies over arrival records (no I/O, no clock)."""

from .strategies import (
    FALLBACKS,
    STRATEGIES,
    Arrival,
    Decision,
    SlotView,
    best_fees,
    compute_turn,
    fair_rotation,
    first_delivered,
)

__all__ = [
    "FALLBACKS",
    "STRATEGIES",
    "Arrival",
    "Decision",
    "SlotView",
    "best_fees",
    "compute_turn",
    "fair_rotation",
    "first_delivered",
]
