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
from collections import OrderedDict
from dataclasses import dataclass, replace
from typing import Any

import orjson

from chain.core import Block, Transaction
from chain.core.codec import decode_json
from chain.core.errors import MalformedInput
from chain.core.txcache import TransactionCache

_MARK = b'"transactions":'
LIST_FIRST = b'{"transactions":'
PROBE_BYTES = 256  # lists of one sender set share their first bytes; the first expiration differs


def encode_candidate(block: Block) -> bytes:
    """A block as members send it: canonical JSON except that ``transactions`` comes first.

    JSON does not order keys, so this is the same block to any reader. Members of a slot
    send the same list with different headers; with the list first, the shared bytes start
    every body, and the emitter hashes them once per slot instead of once per candidate
    (the request signature covers the body's sha256). See :meth:`BlockDecoder.body_sha256`.
    """
    head = block.canonical_head()
    return b"".join((LIST_FIRST, block.transactions_json, b",", head[1:]))


@dataclass
class _KnownList:
    transactions: tuple[Transaction, ...]
    data: bytes  # the list's canonical JSON
    digest: bytes  # its sha256
    fees: int  # the transactions' total fee
    prefix: Any = None  # sha256 state after LIST_FIRST + data (set when the decoder learns it)


class BlockDecoder:
    """Parses blocks (either layout: canonical, or ``encode_candidate``'s list-first), each
    known transaction list once; remembers the ``capacity`` latest lists."""

    def __init__(self, tx_cache: TransactionCache, max_transactions: int, capacity: int = 64) -> None:
        self.tx_cache = tx_cache
        self.max_transactions = max_transactions
        self.capacity = capacity
        self._known: OrderedDict[bytes, _KnownList] = OrderedDict()  # by digest, oldest first
        # The same lists by their first bytes: a cheap index; a match compares every byte.
        self._index: dict[bytes, list[_KnownList]] = {}
        self.hits = 0
        # The last list-first body looked up, and its known list: a request's body is looked
        # up twice (its hash for the request signature, then the block), compared once.
        self._last: tuple[bytes, _KnownList | None] | None = None

    def expect(self, block: Block) -> None:
        """Remember ``block``'s list before any other block carries it (the block expected
        for a slot): the first candidate built from it then parses only its header too."""
        txs = block.transactions
        self._remember(_KnownList(txs, block.transactions_json, block.transactions_digest, block.total_fees))

    def _remember(self, known: _KnownList) -> None:
        self._last = None
        if known.digest in self._known:
            self._known.move_to_end(known.digest)
            had = self._known[known.digest]
            bucket = self._index[had.data[:PROBE_BYTES]]
            bucket.remove(had)
            bucket.append(had)  # newest last: looked at first
            return
        known.prefix = hashlib.sha256(LIST_FIRST + known.data)  # now, not on a candidate's path
        self._known[known.digest] = known
        self._index.setdefault(known.data[:PROBE_BYTES], []).append(known)
        while len(self._known) > self.capacity:
            _, old = self._known.popitem(last=False)
            bucket = self._index[old.data[:PROBE_BYTES]]
            bucket.remove(old)
            if not bucket:
                del self._index[old.data[:PROBE_BYTES]]

    def _known_at(self, body: bytes, start: int, end: int | None) -> _KnownList | None:
        """The known list whose bytes are at ``start`` in ``body`` (and end at ``end`` or,
        when ``end`` is None, are followed by a comma)."""
        # Newest first: a slot's candidates carry the list remembered last (the expected block's).
        for known in reversed(self._index.get(body[start : start + PROBE_BYTES], ())):
            stop = start + len(known.data)
            if end is None:
                if body[stop : stop + 1] != b",":
                    continue
            elif stop != end:
                continue
            if body.startswith(known.data, start):
                return known
        return None

    def _leading(self, body: bytes) -> _KnownList | None:
        """The known list a list-first ``body`` starts with (the same object as last time is
        not compared again)."""
        last = self._last
        if last is not None and last[0] is body:
            return last[1]
        known = self._known_at(body, len(LIST_FIRST), None)
        self._last = (body, known)
        return known

    def body_sha256(self, body: bytes) -> str:
        """``sha256(body).hexdigest()``; for a list-first body of a known list, from the
        hash state after the list (the rest is a few hundred bytes)."""
        if body.startswith(LIST_FIRST):
            known = self._leading(body)
            if known is not None:
                hasher = known.prefix.copy()
                hasher.update(memoryview(body)[len(LIST_FIRST) + len(known.data) :])
                return str(hasher.hexdigest())
        return hashlib.sha256(body).hexdigest()

    def decode(self, body: bytes) -> Block:
        """The block in ``body`` (raises :class:`MalformedInput` like ``Block.from_dict``).

        When the body's list is canonical the block keeps its bytes (and their digest), so
        encoding it again with other signatures does not serialize the list."""
        head: Any = None
        known = None
        if body.startswith(LIST_FIRST):
            known = self._leading(body)
            if known is not None:
                head = b"{" + body[len(LIST_FIRST) + len(known.data) + 1 :]
        elif body.endswith(b"]}"):
            # In canonical JSON nothing before the list can hold the mark (hex, names,
            # numbers), so the first one is the list's; any other body fails the checks
            # and is parsed in full.
            cut = body.find(_MARK)
            if cut > 0:
                known = self._known_at(body, cut + len(_MARK), len(body) - 1)
                if known is not None:
                    head = body[:cut] + _MARK + b"[]}"
        if known is not None:
            try:
                parsed: Any = orjson.loads(head)
            except orjson.JSONDecodeError:
                parsed = None
            # A second "transactions" key after a leading list would win a full parse: then
            # the body is parsed in full (the trailing placeholder of the other layout is ours).
            if isinstance(parsed, dict) and (not body.startswith(LIST_FIRST) or "transactions" not in parsed):
                parsed["transactions"] = []
                self.hits += 1
                block = replace(Block.from_dict(parsed), transactions=known.transactions)
                block.__dict__["transactions_json"] = known.data
                block.__dict__["transactions_digest"] = known.digest
                block.__dict__["total_fees"] = known.fees
                return block
        data = decode_json(body)
        block = Block.from_dict(data, max_transactions=self.max_transactions, tx_cache=self.tx_cache)
        # Remember the list when the body carries it canonically (in either layout).
        raw = block.transactions_json
        if len(raw) > 2 and (body.startswith(raw, len(LIST_FIRST)) or body.endswith(raw + b"}")):
            self._remember(_KnownList(block.transactions, raw, block.transactions_digest, block.total_fees))
        return block


__all__ = ["LIST_FIRST", "BlockDecoder", "MalformedInput", "encode_candidate"]
