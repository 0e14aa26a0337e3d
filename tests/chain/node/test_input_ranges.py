"""Numbers from outside are checked at the node's edge: a 4xx naming the field, never a 500.

The block store is SQLite (signed 64-bit integers); digits are ASCII only.
"""

from __future__ import annotations

import asyncio

import orjson
import pytest
from typer.testing import CliRunner

from chain.cli import app
from chain.node.api import create_app
from tests.chain.node.conftest import NodeHarness
from tests.helpers.servers import serve_app

pytestmark = pytest.mark.anyio

TOO_BIG = str(2**63)  # one past the largest signed 64-bit integer


def assert_names(response, field: str) -> None:  # type: ignore[no-untyped-def]
    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    error = response.json()["error"]
    assert field in error["message"], error


@pytest.mark.parametrize("value", [TOO_BIG, "99999999999999999999", "-1", "１", "²"])
async def test_blocks_from_height_out_of_range(harness: NodeHarness, value: str) -> None:
    r = await harness.client.get("/v1/node/blocks", params={"from_height": value})
    assert_names(r, "from_height")


@pytest.mark.parametrize("value", [TOO_BIG, "9" * 19, "²", "１２", "٣"])
async def test_get_block_height_out_of_range_or_not_ascii(harness: NodeHarness, value: str) -> None:
    for r in (
        await harness.client.post("/v1/chain/get_block", content=orjson.dumps({"block_num_or_id": value})),
        await harness.client.get("/v1/chain/get_block", params={"block_num_or_id": value}),
    ):
        assert_names(r, "block_num_or_id")


async def test_get_block_height_as_a_json_number_out_of_range(harness: NodeHarness) -> None:
    r = await harness.client.post("/v1/chain/get_block", content=b'{"block_num_or_id": 9223372036854775808}')
    assert_names(r, "block_num_or_id")
    r = await harness.client.post("/v1/chain/get_block", content=b'{"block_num_or_id": 9223372036854775807}')
    assert r.status_code == 404, r.text


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/v1/node/mempool?limit=" + TOO_BIG, "limit"),
        ("/v1/node/mempool/updates?after_seq=" + TOO_BIG, "after_seq"),
        ("/v1/chain/get_producers?limit=" + TOO_BIG, "limit"),
        ("/v1/chain/get_producers?limit=²", "limit"),
        ("/v1/executions/runners?limit=" + TOO_BIG, "limit"),
        ("/v1/executions/runners?limit=²", "limit"),
    ],
)
async def test_other_numbers_in_range(harness: NodeHarness, path: str, field: str) -> None:
    assert_names(await harness.client.get(path), field)


@pytest.mark.parametrize("ref", ["²", "１２"])
async def test_the_block_command_refuses_digits_that_are_not_ascii(harness: NodeHarness, ref: str) -> None:
    """``bppool chain block ²`` is an error message, not a traceback."""
    async with serve_app(create_app(harness.node)) as url:
        result = await asyncio.to_thread(CliRunner().invoke, app, ["block", ref, "--url", url])
    assert result.exit_code != 0 and isinstance(result.exception, SystemExit | None), result.exception
    assert "Traceback" not in result.output and "block_num_or_id" in result.output, result.output
