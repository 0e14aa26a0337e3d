"""The node's signed requests, replayed in every spelling: ``prepare_block`` (a request signed
as the pool protocol signs them) and ``commit_block`` (the producer's signature in its body)."""

from __future__ import annotations

import orjson
import pytest

from chain.node.api import create_app
from chain.node.node import Node
from tests.chain.node.conftest import NodeHarness
from tests.chain.node.test_prepare_commit import PREPARE, prepare_request
from tests.helpers.servers import serve_app
from tests.helpers.signed import check_respellings, send_raw, signed_routes

pytestmark = pytest.mark.anyio

COMMIT = "/v1/node/commit_block"


def prepares(node: Node) -> float:
    """How many prepares the node has run (by the signatures alone or in full)."""
    return sum(
        s.value
        for metric in node.metrics.block_prepares.collect()
        for s in metric.samples
        if s.name.endswith("_total")
    )


async def test_the_only_signed_route_is_prepare(harness: NodeHarness) -> None:
    # The node has no signature dependency: its one signed route is a hot route.
    assert signed_routes(create_app(harness.node), frozenset()) == {("POST", PREPARE)}


async def test_prepare_and_commit_refuse_replays_in_every_spelling(harness: NodeHarness) -> None:
    node = harness.node
    block_id, body, headers = prepare_request(harness)
    signature = headers.pop("x-commit-signature")
    head = node.state.head_id
    async with serve_app(create_app(node)) as url:
        status, answer = await send_raw(url, "POST", PREPARE, headers, body)
        assert (status, answer) == (200, {"block_id": block_id, "prepared": True})
        assert prepares(node) == 1
        await check_respellings(url, "POST", PREPARE, headers, body, lambda: prepares(node))

        # The commit's producer signature: only its canonical spelling is a signature.
        def commit(sig: str) -> bytes:
            return orjson.dumps({"block_id": block_id, "producer_signature": sig})

        mixed = "".join(c.upper() if i % 2 else c for i, c in enumerate(signature))
        for respelled in (
            signature.upper(),
            mixed,
            " ".join(signature[i : i + 2] for i in range(0, 128, 2)),
            f" {signature} ",
            "0x" + signature,
        ):
            status, answer = await send_raw(url, "POST", COMMIT, {}, commit(respelled))
            assert (status, answer["error"]["code"]) == (400, "malformed"), (respelled, answer)
            assert "producer_signature" in answer["error"]["message"]
            assert node.state.head_id == head
        status, answer = await send_raw(url, "POST", COMMIT, {}, commit(signature))
        assert status == 200 and answer["block_id"] == block_id, answer
        assert node.head_block is not None and node.head_block.producer_signature == signature
        status, answer = await send_raw(url, "POST", COMMIT, {}, commit(signature))
        assert (status, answer["error"]["code"]) == (409, "not_prepared"), answer
        status, answer = await send_raw(url, "POST", COMMIT, {}, commit(signature.upper()))
        assert (status, answer["error"]["code"]) == (400, "malformed"), answer
    assert node.state.head_id == block_id and prepares(node) == 1
