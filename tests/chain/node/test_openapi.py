"""The node's OpenAPI declares every body and answer; a wrong method is a 405 with ``Allow``."""

from __future__ import annotations

import pytest

from tests.chain.node.conftest import NodeHarness
from tests.helpers.openapi import assert_documented, operations

pytestmark = pytest.mark.anyio


async def test_every_operation_is_documented(harness: NodeHarness) -> None:
    spec = (await harness.client.get("/openapi.json")).json()
    assert_documented(
        spec,
        signed={"POST /v1/node/prepare_block", "POST /v1/producer/build_candidate"},
        sse={"GET /v1/node/head_stream": {"hello", "head", "lib", "mempool"}},
    )
    paths = {f"{m} {p}" for m, p, _ in operations(spec)}
    # The EOSIO-style reads: GET with query parameters, POST with a JSON object
    assert {"GET /v1/chain/get_block", "POST /v1/chain/get_block"} <= paths
    get_block = spec["paths"]["/v1/chain/get_block"]
    assert [p["name"] for p in get_block["get"]["parameters"]] == ["block_num_or_id"]
    assert get_block["post"]["requestBody"]["required"] is False
    # The hot routes declare their bodies alongside their own parsing
    push = spec["paths"]["/v1/node/push_block"]["post"]
    assert push["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Block"
    }
    assert "Transaction" in spec["components"]["schemas"]


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PUT", "/v1/chain/get_info", "GET, POST"),
        ("GET", "/v1/node/push_block", "POST"),
        ("DELETE", "/v1/node/blocks", "GET"),
    ],
)
async def test_wrong_method_answers_405_with_allow(
    harness: NodeHarness, method: str, path: str, allowed: str
) -> None:
    r = await harness.client.request(method, path)
    assert r.status_code == 405
    assert r.headers["allow"] == allowed
    assert r.json()["error"]["code"] == "method_not_allowed"
