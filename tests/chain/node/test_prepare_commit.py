"""The two-step push at the node: a commit that overtakes its prepare waits for it."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from chain.core import build_block
from chain.node.api import create_app
from pool_protocol.requests import request_headers
from tests.chain.node.conftest import NodeHarness
from tests.helpers.chain import key_for
from tests.helpers.node import transfer_tx
from tests.helpers.servers import serve_app

pytestmark = pytest.mark.anyio

PREPARE = "/v1/node/prepare_block"


def prepare_request(harness: NodeHarness) -> tuple[str, bytes, dict[str, str]]:
    """A candidate for slot 1 of the producer ``alpha`` and its signed prepare headers."""
    node = harness.node
    tx = transfer_tx(harness.network.genesis, "alice", "bob", 5)
    node.submit_transaction(tx.to_dict())
    harness.clock.at_slot(1)
    built = build_block(node.state, slot=1, producer="alpha", transactions=[tx])
    block = built.block
    body = block.canonical()
    headers = request_headers(
        key_for("alpha"),
        "alpha",
        chain_id=node.chain_id,
        pool="alpha",
        method="POST",
        path=PREPARE,
        timestamp=harness.clock.now_ms(),
        body=body,
    )
    signature = block.signed_by_producer(key_for("alpha")).producer_signature
    return block.id, body, {**headers, "x-commit-signature": signature}


async def open_prepare(url: str, body: bytes, headers: dict[str, str], sent: int) -> asyncio.StreamWriter:
    """Start a prepare on a raw connection: its headers and the first ``sent`` body bytes."""
    host, port = url.removeprefix("http://").split(":")
    _, writer = await asyncio.open_connection(host, int(port))
    head = [f"POST {PREPARE} HTTP/1.1", "Host: node", f"Content-Length: {len(body)}"]
    head += [f"{k}: {v}" for k, v in headers.items() if k != "x-commit-signature"]
    writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body[:sent])
    await writer.drain()
    return writer


async def test_a_commit_that_overtakes_its_prepare_waits_for_it(harness: NodeHarness) -> None:
    node = harness.node
    block_id, body, headers = prepare_request(harness)
    async with serve_app(create_app(node)) as url, httpx.AsyncClient(base_url=url) as http:
        writer = await open_prepare(url, body, headers, len(body) // 2)
        for _ in range(200):  # the prepare counts from its headers on, before its body is in
            if node.prepared.preparing:
                break
            await asyncio.sleep(0.01)
        assert node.prepared.preparing == 1
        commit = asyncio.create_task(
            http.post(
                "/v1/node/commit_block",
                json={"block_id": block_id, "producer_signature": headers["x-commit-signature"]},
            )
        )
        await asyncio.sleep(0.1)
        assert not commit.done()  # waiting for the prepare still on its way
        writer.write(body[len(body) // 2 :])
        await writer.drain()
        response = await asyncio.wait_for(commit, 5)
        writer.close()
    assert response.status_code == 200, response.text
    assert response.json()["block_id"] == block_id and node.state.head_id == block_id
    assert node.prepared.preparing == 0


async def test_a_prepare_dropped_halfway_stops_holding_commits_back(harness: NodeHarness) -> None:
    node = harness.node
    _, body, headers = prepare_request(harness)
    async with serve_app(create_app(node)) as url:
        writer = await open_prepare(url, body, headers, len(body) // 2)
        for _ in range(200):
            if node.prepared.preparing:
                break
            await asyncio.sleep(0.01)
        assert node.prepared.preparing == 1
        writer.close()
        for _ in range(200):
            if not node.prepared.preparing:
                break
            await asyncio.sleep(0.01)
        assert node.prepared.preparing == 0
