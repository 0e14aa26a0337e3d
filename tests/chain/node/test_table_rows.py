"""``get_table_rows``: every state record with the bytes the state root is made of. Paging
through every table and hashing what came back gives the root the node announced (so the
bytes are the chain's, not a rendering of them); bad input is a 4xx naming the field."""

from __future__ import annotations

import orjson
import pytest

from chain.core.merkle import StateTree
from tests.chain.node.conftest import NodeHarness
from tests.helpers.node import transfer_tx

pytestmark = pytest.mark.anyio

TABLES = ("accounts", "meta", "producers", "unbonding", "services", "runners", "executions")


async def post(h: NodeHarness, body: object):  # type: ignore[no-untyped-def]
    return await h.client.post("/v1/chain/get_table_rows", content=orjson.dumps(body))


async def every_row(h: NodeHarness, table: str, limit: int) -> tuple[list[dict], str, str]:
    rows: list[dict] = []
    lower = ""
    while True:
        r = await post(h, {"table": table, "lower_bound": lower, "limit": limit})
        assert r.status_code == 200, r.text
        page = r.json()
        rows += page["rows"]
        if not page["more"]:
            return rows, page["state_root"], page["head_block_id"]
        lower = page["next_key"]


async def test_the_pages_of_every_table_hash_to_the_state_root(harness: NodeHarness) -> None:
    g = harness.network.genesis
    await harness.client.post(
        "/v1/chain/push_transaction", content=orjson.dumps(transfer_tx(g, "alice", "bob", 5).to_dict())
    )
    await harness.produce(1)
    head = harness.node.head_block
    assert head is not None
    leaves = []
    for table in TABLES:
        rows, root, head_id = await every_row(harness, table, limit=2)
        assert root == head.header.state_root and head_id == head.id
        keys = [r["key"] for r in rows]
        assert keys == sorted(keys, key=str.encode) and len(set(keys)) == len(keys)
        leaves += [(bytes.fromhex(r["leaf_key_hex"]), bytes.fromhex(r["value_hex"])) for r in rows]
        for r in rows:
            assert bytes.fromhex(r["leaf_key_hex"]) == f"{table}/{r['key']}".encode()
            assert orjson.loads(bytes.fromhex(r["value_hex"])) == list(r["fields"].values())
    assert StateTree().update(leaves) == head.header.state_root
    alice = next(r for r in (await every_row(harness, "accounts", 100))[0] if r["key"] == "alice")
    assert alice["fields"]["nonce"] == 1


async def test_the_tables_are_the_states(harness: NodeHarness) -> None:
    from chain.node.routes_chain import STATE_TABLES

    committed = {n for n, t in harness.node.state.tables.items() if t.committed}
    assert committed <= STATE_TABLES  # a new table of the state is listed (and in docs/spec/state.md)
    r = await post(harness, {"table": "open_executions"})  # no record yet: an empty page, not a 404
    assert r.status_code == 200 and r.json()["rows"] == [] and r.json()["more"] is False


async def test_bounds_limit_and_bytes_only(harness: NodeHarness) -> None:
    everything = (await post(harness, {"table": "accounts", "limit": 1000})).json()["rows"]
    keys = [r["key"] for r in everything]
    low, high = keys[1], keys[-2]
    page = (
        await post(harness, {"table": "accounts", "lower_bound": low, "upper_bound": high, "limit": 1000})
    ).json()
    assert [r["key"] for r in page["rows"]] == keys[1:-1] and page["more"] is False and page["next_key"] == ""
    bare = (
        await harness.client.get("/v1/chain/get_table_rows", params={"table": "accounts", "json": "false"})
    ).json()
    assert all("fields" not in r or r["fields"] is None for r in bare["rows"])
    assert [r["value_hex"] for r in bare["rows"]] == [r["value_hex"] for r in everything[: len(bare["rows"])]]


@pytest.mark.parametrize(
    ("body", "status", "code", "named"),
    [
        ({}, 400, "missing_field", "table"),
        ({"table": "blocks"}, 404, "unknown_table", "table"),
        ({"table": "nope"}, 404, "unknown_table", "accounts"),
        ({"table": 7}, 400, "missing_field", "table"),
        ({"table": "accounts", "limit": 0}, 400, None, "limit"),
        ({"table": "accounts", "limit": "ten"}, 400, None, "limit"),
        ({"table": "accounts", "lower_bound": 5}, 400, "invalid_field", "lower_bound"),
        ({"table": "accounts", "upper_bound": "x" * 300}, 400, "invalid_field", "upper_bound"),
        ({"table": "accounts", "json": "yes"}, 400, "invalid_field", "json"),
    ],
)
async def test_bad_input_is_a_4xx_naming_the_field(
    harness: NodeHarness, body: dict, status: int, code: str | None, named: str
) -> None:
    r = await post(harness, body)
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert named in error["message"]
    if code is not None:
        assert error["code"] == code
