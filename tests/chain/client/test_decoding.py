"""The candidate decoder gives exactly what a full parse gives, and parses a known list once."""

from __future__ import annotations

from dataclasses import replace

import orjson
import pytest

from chain.client.decoding import BlockDecoder
from chain.core import Block
from chain.core.codec import canonical_bytes_trusted
from chain.core.errors import MalformedInput
from chain.core.txcache import TransactionCache
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


def test_list_first_bodies_decode_like_a_full_parse_and_hash_like_sha256() -> None:
    import hashlib

    from chain.client.decoding import encode_candidate

    base, _ = bodies()
    decoder = BlockDecoder(TransactionCache(), 100)
    decoder.expect(base)
    for builder in ("alice", "bob", "carol"):
        block = Block(replace(base.header, builder=builder), base.transactions).signed_by_builder(
            key_for(builder)
        )
        body = encode_candidate(block)
        assert body.startswith(b'{"transactions":[')
        assert orjson.loads(body) == orjson.loads(canonical_bytes_trusted(block.to_dict()))
        decoded = decoder.decode(body)
        assert decoded.id == block.id and decoded.builder_signature == block.builder_signature
        assert decoded.transactions is base.transactions
        assert decoder.body_sha256(body) == hashlib.sha256(body).hexdigest()
        assert decoded.canonical() == canonical_bytes_trusted(block.to_dict())
    assert decoder.hits == 3


def test_an_unknown_list_first_body_is_parsed_in_full_and_then_known() -> None:
    import hashlib

    from chain.client.decoding import encode_candidate

    base, _ = bodies()
    decoder = BlockDecoder(TransactionCache(), 100)
    body = encode_candidate(base)
    assert decoder.body_sha256(body) == hashlib.sha256(body).hexdigest()
    assert decoder.decode(body).id == base.id and decoder.hits == 0
    assert decoder.decode(body).id == base.id and decoder.hits == 1
    assert decoder.body_sha256(body + b" ") == hashlib.sha256(body + b" ").hexdigest()


def test_a_request_body_is_compared_with_the_known_lists_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The request hash and the block come from one comparison of the body; another body
    (even with equal bytes) is compared again, and learning a list forgets the last answer."""
    import hashlib

    from chain.client.decoding import encode_candidate

    base, _ = bodies()
    decoder = BlockDecoder(TransactionCache(), 100)
    compared: list[int] = []
    original = decoder._known_at

    def counting(body: bytes, start: int, end: int | None) -> object:
        compared.append(len(body))
        return original(body, start, end)

    monkeypatch.setattr(decoder, "_known_at", counting)
    body = encode_candidate(base)
    assert decoder.body_sha256(body) == hashlib.sha256(body).hexdigest()  # not known yet
    decoder.expect(base)  # learnt now: the earlier "unknown" must not stick
    assert decoder.decode(body).id == base.id and decoder.hits == 1
    assert decoder.body_sha256(body) == hashlib.sha256(body).hexdigest()
    assert len(compared) == 2
    copy = bytes(bytearray(body))
    assert decoder.body_sha256(copy) == hashlib.sha256(body).hexdigest()
    assert decoder.decode(copy).id == base.id and decoder.hits == 2
    assert len(compared) == 3


def test_a_second_transactions_key_after_a_leading_list_is_parsed_in_full() -> None:
    from chain.client.decoding import encode_candidate

    base, _ = bodies()
    decoder = BlockDecoder(TransactionCache(), 100)
    decoder.expect(base)
    body = encode_candidate(base)
    tricky = body[:-1] + b',"transactions":[]}'  # the last key wins a JSON parse
    decoded = decoder.decode(tricky)
    assert decoded.transactions == () and decoder.hits == 0


def test_the_decoder_forgets_the_oldest_lists_beyond_its_capacity() -> None:
    sim = ChainSim(make_genesis())
    decoder = BlockDecoder(TransactionCache(), 100, capacity=2)
    blocks = [sim.make_block(1, [transfer(sim.state, "alice", "bob", n + 1, nonce=0)]) for n in range(3)]
    for block in blocks:
        decoder.expect(block)
    decoder.decode(canonical_bytes_trusted(blocks[0].to_dict()))
    assert decoder.hits == 0  # forgotten (then learnt again from this canonical body)
    decoder.decode(canonical_bytes_trusted(blocks[2].to_dict()))
    assert decoder.hits == 1


def test_lists_that_share_their_first_bytes_are_told_apart() -> None:
    """Lists of one slot's senders share long prefixes (here the whole first transaction):
    each body still decodes to its own list, the newest list being looked at first."""
    from chain.client.decoding import encode_candidate

    sim = ChainSim(make_genesis())
    first = transfer(sim.state, "alice", "bob", 1, nonce=0)
    blocks = [
        sim.make_block(1, [first, transfer(sim.state, "bob", "carol", amount, nonce=0)], builder="alice")
        for amount in (1, 2, 3)
    ]
    decoder = BlockDecoder(TransactionCache(), 100)
    for block in blocks:
        decoder.expect(block)
    for block in reversed(blocks):
        signed = block.signed_by_builder(key_for("alice"))
        decoded = decoder.decode(encode_candidate(signed))
        assert decoded.id == block.id and decoded.transactions_digest == block.transactions_digest
        assert [t.id for t in decoded.transactions] == [t.id for t in block.transactions]
    assert decoder.hits == 3
