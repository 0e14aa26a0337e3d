"""Decoding blocks, with the transaction list of a slot parsed once.

Members build from one mempool, so the candidates of a slot usually carry the very same
transactions and differ in their header's builder and the builder's signature (and the
producer's block, once signed, carries them too). In canonical JSON (sorted keys)
``transactions`` is the last key of a block, so the same list is the same trailing bytes.
The decoder remembers parsed lists with their bytes, and for a known list (the very same
bytes) parses only the short prefix.

A list is remembered only from a body that is exactly canonical, where those trailing bytes
are the list and nothing else (or from a block built here); any other body is parsed in full.
A hit therefore yields exactly what a full parse would.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from typing import Any

import orjson

from chain.core import Block, Transaction
from chain.core.codec import canonical_bytes_trusted, decode_json
from chain.core.containers import TransactionCache
from chain.core.errors import MalformedInput

_MARK = b'"transactions":'
PROBE_BYTES = 64


@dataclass(frozen=True)
class _KnownList:
    transactions: tuple[Transaction, ...]
    data: bytes  # the list's canonical JSON
    digest: bytes  # its sha256
    fees: int  # the transactions' total fee


def _probe(listed: bytes) -> tuple[int, bytes, bytes]:
    """A cheap index into the known lists (length and both ends); a match is confirmed by
    comparing every byte, so no hash of the whole body is needed to recognise a list."""
    return len(listed), listed[:PROBE_BYTES], listed[-PROBE_BYTES:]


class BlockDecoder:
    def __init__(self, tx_cache: TransactionCache, max_transactions: int, capacity: int = 64) -> None:
        self.tx_cache = tx_cache
        self.max_transactions = max_transactions
        self.capacity = capacity
        self._lists: dict[tuple[int, bytes, bytes], _KnownList] = {}
        self.hits = 0

    def clear(self) -> None:
        self._lists.clear()

    def expect(self, block: Block) -> None:
        """Remember ``block``'s list before any other block carries it (the block expected
        for a slot): the first candidate built from it then parses only its header too."""
        self._remember(
            _KnownList(
                block.transactions, block.transactions_json, block.transactions_digest, block.total_fees
            )
        )

    def _remember(self, known: _KnownList) -> None:
        probe = _probe(known.data)
        self._lists.pop(probe, None)
        if len(self._lists) >= self.capacity:
            del self._lists[next(iter(self._lists))]
        self._lists[probe] = known

    def decode(self, body: bytes) -> Block:
        """The block in ``body`` (raises :class:`MalformedInput` like ``Block.from_dict``).

        When ``body`` is canonical the block keeps its transaction list's bytes (and their
        digest), so encoding it again with other signatures does not serialize the list."""
        # In canonical JSON nothing before the list can hold the mark (hex, names, numbers),
        # so the first one is the list's; any other body fails the checks below and is
        # parsed in full.
        cut = body.find(_MARK)
        listed = None
        if cut > 0 and body.endswith(b"]}"):
            listed = body[cut + len(_MARK) : -1]  # a copy: bytes compare with memcmp
            known = self._lists.get(_probe(listed))
            if known is not None and listed == known.data:
                try:
                    head: Any = orjson.loads(body[:cut] + _MARK + b"[]}")
                except orjson.JSONDecodeError:
                    head = None
                if isinstance(head, dict):
                    self.hits += 1
                    block = replace(Block.from_dict(head), transactions=known.transactions)
                    block.__dict__["transactions_json"] = known.data
                    block.__dict__["transactions_digest"] = known.digest
                    block.__dict__["total_fees"] = known.fees
                    return block
        data = decode_json(body)
        block = Block.from_dict(data, max_transactions=self.max_transactions, tx_cache=self.tx_cache)
        if listed is not None and isinstance(data, dict) and canonical_bytes_trusted(data) == body:
            raw = listed
            digest = hashlib.sha256(raw).digest()
            self._remember(_KnownList(block.transactions, raw, digest, block.total_fees))
            block.__dict__["transactions_json"] = raw
            block.__dict__["transactions_digest"] = digest
        return block


__all__ = ["BlockDecoder", "MalformedInput"]
