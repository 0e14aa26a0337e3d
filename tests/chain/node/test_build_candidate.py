"""``POST /v1/producer/build_candidate``: the node builds a pool slot's candidate for one of its
builders. The answer is the block the pool expects (the mempool's selection up to ``tx_seq``
on the head), the builder's signature over its ``signing_digest`` is the one the chain checks,
and only a configured builder's fresh, signed request is answered."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import nacl.signing
import orjson
import pytest

from chain.core import Block, build_block, state_transition
from chain.node.api import create_app
from pool_protocol.requests import request_headers
from tests.chain.node.conftest import NodeHarness, running_harness
from tests.helpers.chain import key_for
from tests.helpers.node import make_network, transfer_tx
from tests.helpers.servers import serve_app
from tests.helpers.signed import check_respellings, send_raw

pytestmark = pytest.mark.anyio

PATH = "/v1/producer/build_candidate"


@pytest.fixture
async def builder_node(tmp_path: Path) -> AsyncIterator[NodeHarness]:
    async with running_harness(make_network(tmp_path / "net"), tmp_path / "node", builders=["alice"]) as h:
        yield h


def signed(
    h: NodeHarness, body: dict, *, signer: str = "alice", member: str | None = None, pool: str = "alpha"
):
    raw = orjson.dumps(body)
    headers = request_headers(
        key_for(signer),
        member or signer,
        chain_id=h.node.chain_id,
        pool=pool,
        method="POST",
        path=PATH,
        timestamp=h.clock.now_ms(),
        body=raw,
    )
    return raw, {**headers, "content-type": "application/json"}


async def ask(h: NodeHarness, body: dict, **kw: object):  # type: ignore[no-untyped-def]
    raw, headers = signed(h, body, **kw)  # type: ignore[arg-type]
    return await h.client.post(PATH, content=raw, headers=headers)


async def test_the_answer_is_the_expected_block_and_its_digest_is_what_the_builder_signs(
    builder_node: NodeHarness,
) -> None:
    h = builder_node
    node = h.node
    g = h.network.genesis
    first, second = transfer_tx(g, "alice", "bob", 5), transfer_tx(g, "carol", "bob", 7)
    node.submit_transaction(first.to_dict())
    node.submit_transaction(second.to_dict())
    h.clock.at_slot(1)
    seq = node.mempool.seq_of(first.id)
    r = await ask(h, {"slot": 1, "producer": "alpha", "builder": "alice", "tx_seq": seq})
    assert r.status_code == 200, r.text
    answer = r.json()
    block = Block.from_dict(answer["block"])
    expected = build_block(
        node.state,
        slot=1,
        producer="alpha",
        builder="alice",
        transactions=node.mempool.select(node.state, node.params.max_block_transactions, max_seq=seq),
    ).block
    assert block.id == expected.id == answer["block_id"] and [t.id for t in block.transactions] == [first.id]
    assert answer["prev_id"] == node.state.head_id and answer["tx_seq"] == seq and answer["rejected"] == 0
    assert bytes.fromhex(answer["header_canonical_hex"]) == block.header.canonical
    assert answer["block"]["builder_signature"] is None and answer["signing_domain"] == "bppool/candidate/v1"
    # ed25519 over the 32 bytes of the digest: the builder signature the chain checks.
    seed = hashlib.sha256(b"bppool-test-key/alice").digest()  # key_for("alice")'s seed
    signature = nacl.signing.SigningKey(seed).sign(bytes.fromhex(answer["signing_digest"])).signature.hex()
    assert signature == block.signed_by_builder(key_for("alice")).builder_signature
    candidate = block.with_signatures(builder_signature=signature)
    undo = state_transition(node.state, candidate, node.sig_cache, producer_signature=False)
    node.state.undo(undo)
    # Without tx_seq, every pending transaction is selected.
    r = await ask(h, {"slot": 1, "producer": "alpha", "builder": "alice"})
    assert len(r.json()["block"]["transactions"]) == 2


@pytest.mark.parametrize(
    ("body", "kw", "status", "code", "named"),
    [
        (
            {"slot": 1, "producer": "alpha", "builder": "bob"},
            {"signer": "bob"},
            403,
            "not_a_builder",
            "builder",
        ),
        (
            {"slot": 1, "producer": "alpha", "builder": "alice"},
            {"signer": "bob", "member": "bob"},
            401,
            "unauthenticated",
            "builder",
        ),
        (
            {"slot": 1, "producer": "alpha", "builder": "alice"},
            {"signer": "bob", "member": "alice"},
            401,
            "bad_request_signature",
            "alice",
        ),
        (
            {"slot": 1, "producer": "alpha", "builder": "alice"},
            {"pool": "beta"},
            401,
            "bad_request_signature",
            "alice",
        ),
        ({"slot": 1, "producer": "bob", "builder": "alice"}, {"pool": "bob"}, 400, None, "slot 1"),
        ({"slot": 0, "producer": "alpha", "builder": "alice"}, {}, 400, None, "slot"),
        ({"slot": "one", "producer": "alpha", "builder": "alice"}, {}, 400, None, "slot"),
        ({"producer": "alpha", "builder": "alice"}, {}, 400, None, "slot"),
        ({"slot": 1, "producer": "ALPHA", "builder": "alice"}, {}, 400, "invalid_name", "producer"),
        ({"slot": 1, "producer": "alpha", "builder": "alice", "tx_seq": -1}, {}, 400, None, "tx_seq"),
        (
            {"slot": 1, "producer": "alpha", "builder": "alice", "max_transactions": 10**9},
            {},
            400,
            None,
            "max_transactions",
        ),
    ],
)
async def test_refusals_name_what_is_wrong(
    builder_node: NodeHarness, body: dict, kw: dict, status: int, code: str | None, named: str
) -> None:
    builder_node.clock.at_slot(1)
    r = await ask(builder_node, body, **kw)
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert named in error["message"], error
    if code is not None:
        assert error["code"] == code


async def test_parameters_in_the_query_string_are_refused(builder_node: NodeHarness) -> None:
    """The signature covers the path and the body only: a query string could change what is
    built without it."""
    builder_node.clock.at_slot(1)
    raw, headers = signed(builder_node, {"slot": 1, "producer": "alpha", "builder": "alice"})
    r = await builder_node.client.post(PATH + "?max_transactions=0", content=raw, headers=headers)
    assert (r.status_code, r.json()["error"]["code"]) == (400, "malformed"), r.text
    assert "query" in r.json()["error"]["message"]


async def test_a_slot_not_after_the_head_is_refused(builder_node: NodeHarness) -> None:
    await builder_node.produce(1)
    builder_node.clock.at_slot(2)
    r = await ask(builder_node, {"slot": 1, "producer": "alpha", "builder": "alice"})
    assert 400 <= r.status_code < 500 and "slot" in r.json()["error"]["message"], r.text


async def test_without_builders_the_node_builds_for_nobody(harness: NodeHarness) -> None:
    harness.clock.at_slot(1)
    r = await ask(harness, {"slot": 1, "producer": "alpha", "builder": "alice"})
    assert (r.status_code, r.json()["error"]["code"]) == (403, "not_a_builder")
    assert "no builders configured" in r.json()["error"]["message"]
    r = await harness.client.post(PATH, content=b"{}", headers={"content-type": "application/json"})
    assert (r.status_code, r.json()["error"]["code"]) == (401, "unauthenticated")


async def test_a_request_is_answered_once_in_any_spelling(builder_node: NodeHarness) -> None:
    h = builder_node
    h.clock.at_slot(1)
    raw, headers = signed(h, {"slot": 1, "producer": "alpha", "builder": "alice"})
    async with serve_app(create_app(h.node)) as url:
        status, answer = await send_raw(url, "POST", PATH, headers, raw)
        assert status == 200 and answer["block"]["header"]["slot"] == 1, answer
        await check_respellings(url, "POST", PATH, headers, raw, lambda: len(h.node.builder_verifier.guard))
