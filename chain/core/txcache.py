"""A cache of parsed transactions, so a block of transactions seen before decodes cheaply."""

from __future__ import annotations

from typing import Any

from .containers import Transaction


class TransactionCache:
    """Parsed transactions by signature, so a block of known transactions decodes cheaply.

    A hit requires the wire object to equal the one the cached transaction was parsed from,
    so the cache can never substitute a different transaction. Bounded, oldest out first.
    """

    __slots__ = ("_entries", "capacity")

    def __init__(self, capacity: int = 100_000) -> None:
        self._entries: dict[str, tuple[Transaction, dict[str, Any]]] = {}
        self.capacity = capacity

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, wire: Any) -> Transaction | None:
        """The parsed transaction for ``wire`` if it was seen before."""
        if not isinstance(wire, dict):
            return None
        signature = wire.get("signature")
        entry = self._entries.get(signature) if isinstance(signature, str) else None
        if entry is None or entry[1] != wire:
            return None
        return entry[0]

    def put(self, tx: Transaction, wire: dict[str, Any] | None = None) -> None:
        """Remember ``tx`` (and the wire object it came from)."""
        entries = self._entries
        if len(entries) >= self.capacity:
            del entries[next(iter(entries))]
        entries[tx.signature] = (tx, wire if wire is not None else tx.to_dict())
