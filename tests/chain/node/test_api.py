"""The node API against the real app (httpx ASGI transport) with a real SQLite block store."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
import pytest

from chain.core import Block
from chain.core.containers import CreateAccount, Stake
from tests.chain.node.conftest import NodeHarness, start_harness
from tests.helpers.chain import key_for
from tests.helpers.node import make_network, signed_tx, transfer_tx

pytestmark = pytest.mark.anyio


async def post(h: NodeHarness, path: str, body: object = None, **kw: object):
    content = body if isinstance(body, bytes) else orjson.dumps(body if body is not None else {})
    return await h.client.post(path, content=content, headers={"content-type": "application/json"}, **kw)


async def test_get_info_at_genesis(harness: NodeHarness) -> None:
    r = await post(harness, "/v1/chain/get_info")
    assert r.status_code == 200
    info = r.json()
    assert info["chain_id"] == harness.network.genesis.chain_id
    assert info["head_block_num"] == 0 and info["head_block_id"] == info["chain_id"]
    assert info["last_irreversible_block_num"] == 0
    assert info["producer_accounts"] == ["alpha"]
    r = await harness.client.get("/v1/chain/get_info")
    assert r.json()["chain_id"] == info["chain_id"]


async def test_transaction_flows_into_a_block(harness: NodeHarness) -> None:
    g = harness.network.genesis
    tx = transfer_tx(g, "alice", "bob", 12_3456)
    r = await post(harness, "/v1/chain/push_transaction", tx.to_dict())
    assert r.status_code == 202, r.text
    assert r.json()["transaction_id"] == tx.id
    assert len(harness.node.mempool) == 1
    await harness.produce(1)
    assert len(harness.node.mempool) == 0
    r = await post(harness, "/v1/chain/get_block", {"block_num_or_id": 1})
    block = r.json()
    assert block["block_num"] == 1 and block["transactions"][0]["signature"] == tx.signature
    by_id = await post(harness, "/v1/chain/get_block", {"block_num_or_id": block["id"]})
    assert by_id.json()["id"] == block["id"]
    r = await post(harness, "/v1/chain/get_currency_balance", {"account": "bob", "symbol": "BPT"})
    assert r.json() == ["1000012.3456 BPT"]
    r = await harness.client.get("/v1/chain/get_account", params={"account_name": "alice"})
    acct = r.json()
    assert acct["nonce"] == 1 and acct["balance_units"] == 1_000_000_0000 - 12_3456 - 10


async def test_read_endpoints(harness: NodeHarness) -> None:
    await harness.produce(1)
    producers = (await post(harness, "/v1/chain/get_producers", {"limit": 10})).json()
    assert producers["rows"][0]["owner"] == "alpha" and producers["rows"][0]["is_active"]
    schedule = (await post(harness, "/v1/chain/get_producer_schedule")).json()
    assert [p["producer_name"] for p in schedule["active"]["producers"]] == ["alpha"]
    assert schedule["pending"] is None
    assert (await post(harness, "/v1/chain/get_block", {"block_num_or_id": 99})).status_code == 404
    assert (await post(harness, "/v1/chain/get_account", {"account_name": "nobody"})).status_code == 404
    r = await post(harness, "/v1/chain/get_account", {"account_name": "Bad!"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_name"
    assert (await harness.client.get("/healthz")).json() == {"status": "ok"}
    assert (await harness.client.get("/readyz")).json()["ready"] is True
    metrics = (await harness.client.get("/metrics")).text
    for name in (
        "bppool_chain_head_height 1.0",
        "bppool_chain_lib_height",
        "bppool_chain_mempool_size",
        'bppool_chain_missed_slots_total{producer="alpha"}',
        "bppool_chain_jailed_producers 0.0",
        "bppool_chain_block_apply_seconds_bucket",
        "bppool_chain_transactions_applied_total",
    ):
        assert name in metrics, name
    assert (await harness.client.get("/docs")).status_code == 200


async def test_mempool_endpoint_orders_by_fee(harness: NodeHarness) -> None:
    g = harness.network.genesis
    cheap = transfer_tx(g, "alice", "bob", 1, fee=5)
    dear = transfer_tx(g, "bob", "carol", 1, fee=50)
    for tx in (cheap, dear):
        assert (await post(harness, "/v1/chain/push_transaction", tx.to_dict())).status_code == 202
    listed = (await harness.client.get("/v1/node/mempool")).json()
    assert [t["signature"] for t in listed] == [dear.signature, cheap.signature]


# --- bad input: a 4xx naming the problem, and nothing stored --------------------------------


async def assert_rejected(h: NodeHarness, body: object, status: int, code: str, message: str = "") -> None:
    before = len(h.node.mempool)
    r = await post(h, "/v1/chain/push_transaction", body)
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["code"] == code, error
    assert message in error["message"]
    assert len(h.node.mempool) == before


async def test_malformed_json(harness: NodeHarness) -> None:
    await assert_rejected(harness, b"{not json", 400, "malformed", "not valid JSON")
    await assert_rejected(harness, b"[1,2]", 400, "malformed_transaction", "expected an object")
    await assert_rejected(harness, {"sender": "alice"}, 400, "malformed_transaction", "missing field")


async def test_wrong_chain_id(harness: NodeHarness) -> None:
    tx = transfer_tx(harness.network.genesis, "alice", "bob", 1, chain_id="ab" * 32)
    await assert_rejected(harness, tx.to_dict(), 400, "wrong_chain_id", "not this chain")


async def test_bad_signature(harness: NodeHarness) -> None:
    tx = transfer_tx(harness.network.genesis, "alice", "bob", 1, key=key_for("bob"))
    await assert_rejected(harness, tx.to_dict(), 400, "bad_signature", "does not verify")


async def test_replayed_and_duplicate_transactions(harness: NodeHarness) -> None:
    tx = transfer_tx(harness.network.genesis, "alice", "bob", 1)
    assert (await post(harness, "/v1/chain/push_transaction", tx.to_dict())).status_code == 202
    await assert_rejected(harness, tx.to_dict(), 409, "duplicate_transaction", "already in the mempool")
    await harness.produce(1)
    await assert_rejected(harness, tx.to_dict(), 400, "nonce_mismatch", "replayed")


def _with_trailing_newline(g, field: str) -> dict[str, object]:  # type: ignore[no-untyped-def]
    """A signed wire transaction whose ``field`` ends in a newline (signed as such)."""
    if field == "action.name":
        return signed_tx(g, "alice", CreateAccount("abcdefghijkl\n", key_for("dave").public_key)).to_dict()  # type: ignore[arg-type]
    if field == "action.to":
        return transfer_tx(g, "alice", "bob\n", 1).to_dict()
    data = transfer_tx(g, "alice", "bob", 1).to_dict()
    data[field] = data[field] + "\n"
    return data


@pytest.mark.parametrize("field", ["action.name", "action.to", "sender", "chain_id", "signature"])
async def test_a_trailing_newline_is_refused(harness: NodeHarness, field: str) -> None:
    body = _with_trailing_newline(harness.network.genesis, field)
    await assert_rejected(harness, body, 400, "malformed_transaction", field)
    assert "abcdefghijkl\n" not in harness.node.state.accounts


async def test_get_account_refuses_a_trailing_newline(harness: NodeHarness) -> None:
    r = await post(harness, "/v1/chain/get_account", {"account_name": "alice\n"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_name"


async def test_unknown_sender_gap_balance_and_recipient(harness: NodeHarness) -> None:
    g = harness.network.genesis
    await assert_rejected(
        harness,
        transfer_tx(g, "nobody", "bob", 1, key=key_for("nobody")).to_dict(),
        400,
        "unknown_account",
        "nobody",
    )
    await assert_rejected(
        harness, transfer_tx(g, "alice", "bob", 1, nonce=3).to_dict(), 400, "nonce_mismatch", "gap"
    )
    await assert_rejected(
        harness,
        transfer_tx(g, "alice", "bob", 2**61).to_dict(),
        400,
        "insufficient_balance",
        "needs",
    )
    await assert_rejected(
        harness,
        transfer_tx(g, "alice", "nobody", 1).to_dict(),
        400,
        "unknown_account",
        "nobody does not exist",
    )
    await assert_rejected(
        harness, signed_tx(g, "alice", Stake("bob", 1)).to_dict(), 400, "not_a_producer", "bob"
    )
    await assert_rejected(
        harness,
        signed_tx(g, "alice", CreateAccount("bob", "ab" * 32)).to_dict(),
        400,
        "account_exists",
        "bob",
    )


async def test_expired_transaction(harness: NodeHarness) -> None:
    harness.clock.at_slot(100)
    tx = transfer_tx(
        harness.network.genesis, "alice", "bob", 1, expiration=harness.network.genesis.genesis_time
    )
    await assert_rejected(harness, tx.to_dict(), 400, "expired", "expired")


async def test_oversized_body(harness: NodeHarness) -> None:
    body = b'{"memo": "' + b"x" * 20_000 + b'"}'
    await assert_rejected(harness, body, 413, "body_too_large", "exceeds")


# --- blocks ----------------------------------------------------------------------------------


async def test_push_block_from_another_producer(tmp_path: Path) -> None:
    """A follower node (no key) accepts blocks pushed by the producer node."""
    network = make_network(tmp_path / "net")
    producer = await start_harness(network, tmp_path / "p")
    follower = await start_harness(network, tmp_path / "f", key_file=None)
    try:
        await post(
            producer,
            "/v1/chain/push_transaction",
            transfer_tx(network.genesis, "alice", "bob", 7).to_dict(),
        )
        await producer.produce(1)
        data = (await post(producer, "/v1/chain/get_block", {"block_num_or_id": 1})).json()
        block = {k: data[k] for k in ("header", "transactions", "producer_signature", "builder_signature")}
        follower.clock.at_slot(1)
        r = await post(follower, "/v1/node/push_block", block)
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "applied" and r.json()["head_block_num"] == 1
        again = await post(follower, "/v1/node/push_block", block)
        assert again.json()["status"] == "duplicate"
        assert follower.node.state.accounts["bob"].balance == 1_000_000_0000 + 7
    finally:
        for h in (producer, follower):
            await h.client.aclose()
            await h.node.stop()


async def test_push_block_rejections_store_nothing(harness: NodeHarness, tmp_path: Path) -> None:
    other = await start_harness(harness.network, tmp_path / "other")
    try:
        await other.produce(1)
        await other.produce(2)
        b1 = (await post(other, "/v1/chain/get_block", {"block_num_or_id": 1})).json()
        b2 = (await post(other, "/v1/chain/get_block", {"block_num_or_id": 2})).json()
    finally:
        await other.client.aclose()
        await other.node.stop()

    def strip(d: dict) -> dict:
        return {k: d[k] for k in ("header", "transactions", "producer_signature", "builder_signature")}

    stored = harness.node.blockstore.count()
    harness.clock.at_slot(2)
    # a block whose parent the node does not have
    r = await post(harness, "/v1/node/push_block", strip(b2))
    assert r.status_code == 409 and r.json()["error"]["code"] == "unknown_parent"
    # a forged producer signature
    forged = strip(b1) | {"producer_signature": key_for("bob").sign(b"bppool/block/v1", b"x")}
    r = await post(harness, "/v1/node/push_block", forged)
    assert r.status_code == 400 and r.json()["error"]["code"] == "bad_producer_signature"
    # a block from the future
    harness.clock.at_slot(-10)
    r = await post(harness, "/v1/node/push_block", strip(b1))
    assert r.status_code == 400 and r.json()["error"]["code"] == "block_from_future"
    # malformed
    r = await post(harness, "/v1/node/push_block", {"header": {}})
    assert r.status_code == 400
    assert harness.node.blockstore.count() == stored
    assert harness.node.state.height == 0


async def test_head_stream_announces_new_heads(harness: NodeHarness) -> None:
    events: list[tuple[str, dict]] = []

    async def listen() -> None:
        async for event, data in harness.node.events.subscribe():
            events.append((event, data))
            if event == "head":
                return

    listener = asyncio.create_task(listen())
    await asyncio.sleep(0)
    await harness.produce(1)
    await asyncio.wait_for(listener, 2)
    event, data = events[0]
    assert event == "head" and data["height"] == 1 and data["producer"] == "alpha"
    assert Block.from_dict(orjson.loads(orjson.dumps(data["blocks"][0]))).id == data["id"]


async def test_head_stream_over_http(harness: NodeHarness) -> None:
    """The SSE stream on a real uvicorn server on loopback."""
    from chain.client.http import AsyncNodeClient
    from chain.node.api import create_app
    from tests.helpers.servers import serve_app

    async with serve_app(create_app(harness.node)) as url:
        client = AsyncNodeClient(url)
        received: list[tuple[str, dict]] = []

        async def listen() -> None:
            async for event, data in client.head_stream(include_blocks=True):
                received.append((event, data))
                if event == "head":
                    return

        task = asyncio.create_task(listen())
        while not harness.node.events.subscribers:
            await asyncio.sleep(0.01)
        await harness.produce(1)
        await asyncio.wait_for(task, 5)
        await client.aclose()
    assert received[0][0] == "hello" and received[-1][0] == "head"
    assert received[-1][1]["blocks"][0]["header"]["height"] == 1


async def test_one_node_produces_for_several_producers(tmp_path: Path) -> None:
    network = make_network(tmp_path / "net", producers=("alpha", "beta"))
    h = await start_harness(
        network, tmp_path / "n", key_file=network.key_path("alpha"), key_files=[network.key_path("beta")]
    )
    try:
        await h.produce(1)  # alpha's slot
        h.clock.at_slot(12)
        block = await h.node.produce(12)  # beta's slot
        assert block is not None and block.header.producer == "beta"
        info = (await post(h, "/v1/chain/get_info")).json()
        assert info["producer_accounts"] == ["alpha", "beta"]
    finally:
        await h.client.aclose()
        await h.node.stop()
