"""The candidate decoder gives exactly what a full parse gives, and parses a known list once."""

from __future__ import annotations

from dataclasses import replace

import orjson
import pytest

from chain.core import Block
from chain.core.codec import canonical_bytes_trusted
from chain.core.containers import TransactionCache
from chain.core.errors import MalformedInput
from chain.decoding import BlockDecoder
from tests.helpers.chain import ChainSim, key_for, make_genesis, transfer


def bodies() -> tuple[Block, list[bytes]]:
    sim = ChainSim(make_genesis())
    txs = [transfer(sim.state, "alice", "bob", 1, nonce=n) for n in range(5)]
    base = sim.make_block(1, txs, builder="alice")
    out = []
    for builder in ("alice", "bob", "carol"):
        block = Block(replace(base.header, builder=builder), base.transactions).signed_by_builder(
            key_for(builder)
        )
        out.append(canonical_bytes_trusted(block.to_dict()))
    return base, out


def test_same_transactions_are_parsed_once_and_equal_a_full_parse() -> None:
    _, raw = bodies()
    decoder = BlockDecoder(TransactionCache(), 100)
    decoded = [decoder.decode(b) for b in raw]
    assert decoder.hits == 2
    for body, block in zip(raw, decoded, strict=True):
        full = Block.from_dict(orjson.loads(body))
        assert block.id == full.id and block.builder_signature == full.builder_signature
        assert [t.id for t in block.transactions] == [t.id for t in full.transactions]


def test_non_canonical_bodies_are_parsed_in_full_and_not_remembered() -> None:
    _, raw = bodies()
    decoder = BlockDecoder(TransactionCache(), 100)
    spaced = orjson.dumps(orjson.loads(raw[0]), option=orjson.OPT_INDENT_2)
    decoder.decode(spaced)
    decoder.decode(raw[1])
    assert decoder.hits == 0


def test_a_tampered_prefix_still_fails_cleanly() -> None:
    _, raw = bodies()
    decoder = BlockDecoder(TransactionCache(), 100)
    decoder.decode(raw[0])
    with pytest.raises(MalformedInput):
        decoder.decode(b'{"header":1,' + raw[1][raw[1].rfind(b'"transactions":') :])
