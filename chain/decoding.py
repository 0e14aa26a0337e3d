"""Decoding blocks, with the transaction list of a slot parsed once.

Members build from one mempool, so the candidates of a slot usually carry the very same
transactions and differ in their header's builder and the builder's signature (and the
producer's block, once signed, carries them too). In canonical JSON (sorted keys)
``transactions`` is the last key of a block, so the same list is the same trailing bytes.
The decoder remembers parsed lists by the sha256 of those bytes, and for a known list parses
only the short prefix.

A list is remembered only from a body that is exactly canonical, where those trailing bytes
are the list and nothing else (or from a block built here); any other body is parsed in full.
A hit therefore yields exactly what a full parse would.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from typing import Any

import orjson

from chain.core import Block, Transaction
from chain.core.codec import canonical_bytes_trusted, decode_json
from chain.core.containers import TransactionCache
from chain.core.errors import MalformedInput

_MARK = b'"transactions":'


class BlockDecoder:
    def __init__(self, tx_cache: TransactionCache, max_transactions: int, capacity: int = 64) -> None:
        self.tx_cache = tx_cache
        self.max_transactions = max_transactions
        self.capacity = capacity
        self._lists: dict[bytes, tuple[Transaction, ...]] = {}
        self.hits = 0

    def clear(self) -> None:
        self._lists.clear()

    def expect(self, block: Block) -> None:
        """Remember ``block``'s list before any other block carries it (the block expected
        for a slot): the first candidate built from it then parses only its header too."""
        self._remember(block.transactions_digest, block.transactions)

    def _remember(self, key: bytes, transactions: tuple[Transaction, ...]) -> None:
        self._lists.pop(key, None)
        if len(self._lists) >= self.capacity:
            del self._lists[next(iter(self._lists))]
        self._lists[key] = transactions

    def decode(self, body: bytes) -> Block:
        """The block in ``body`` (raises :class:`MalformedInput` like ``Block.from_dict``).

        When ``body`` is canonical the block keeps its transaction list's bytes, so encoding
        it again (with other signatures) does not serialize the list."""
        cut = body.rfind(_MARK)
        key = None
        if cut > 0 and body.endswith(b"]}"):
            listed = memoryview(body)[cut + len(_MARK) : -1]
            key = hashlib.sha256(listed).digest()
            known = self._lists.get(key)
            if known is not None:
                try:
                    head: Any = orjson.loads(body[:cut] + _MARK + b"[]}")
                except orjson.JSONDecodeError:
                    head = None
                if isinstance(head, dict):
                    self.hits += 1
                    block = replace(Block.from_dict(head), transactions=known)
                    block.__dict__["transactions_json"] = bytes(listed)
                    block.__dict__["transactions_digest"] = key
                    return block
        data = decode_json(body)
        block = Block.from_dict(data, max_transactions=self.max_transactions, tx_cache=self.tx_cache)
        if key is not None and isinstance(data, dict) and canonical_bytes_trusted(data) == body:
            self._remember(key, block.transactions)
            block.__dict__["transactions_json"] = body[cut + len(_MARK) : -1]
            block.__dict__["transactions_digest"] = key
        return block


__all__ = ["BlockDecoder", "MalformedInput"]
