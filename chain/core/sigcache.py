"""The verified-signature cache: verify a transaction's signature once, look it up after.

The mempool verifies each transaction on arrival and records ``(signature, key)`` under the
transaction id; applying a block that holds known transactions then costs only a dict
lookup per transaction. The key is part of the entry so that an account bound to another key
on another fork never inherits a verdict.
"""

from __future__ import annotations

from .containers import Transaction
from .crypto import DOMAIN_TX, verify_signature
from .errors import BadSignature


class SignatureCache:
    """A bounded map ``tx id -> (signature, public key)`` of verified transactions (FIFO)."""

    __slots__ = ("_entries", "capacity", "hits", "misses")

    def __init__(self, capacity: int = 200_000) -> None:
        self._entries: dict[str, tuple[str, str]] = {}
        self.capacity = capacity
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def is_verified(self, tx: Transaction, key: str) -> bool:
        """True when ``tx``'s signature was verified under ``key`` before."""
        entry = self._entries.get(tx.id)
        return entry is not None and entry[0] == tx.signature and entry[1] == key

    def add(self, tx: Transaction, key: str) -> None:
        """Record that ``tx``'s signature verified under ``key``."""
        entries = self._entries
        if len(entries) >= self.capacity:
            del entries[next(iter(entries))]
        entries[tx.id] = (tx.signature, key)

    def discard(self, tx_id: str) -> None:
        """Forget a transaction (after it is final)."""
        self._entries.pop(tx_id, None)


def verify_transaction_signature(tx: Transaction, key: str, cache: SignatureCache | None) -> None:
    """Check ``tx``'s signature under the sender's ``key``, through ``cache`` when given."""
    if cache is not None:
        if cache.is_verified(tx, key):
            cache.hits += 1
            return
        cache.misses += 1
    if not tx.signature or not verify_signature(key, DOMAIN_TX, tx.body_bytes, tx.signature):
        raise BadSignature(f"signature of transaction {tx.id} does not verify for {tx.sender}")
    if cache is not None:
        cache.add(tx, key)
