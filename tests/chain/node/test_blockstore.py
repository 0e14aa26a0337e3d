"""The block store: restart resumes from the stored chain; corruption is never used."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from chain.core import compute_state_root
from chain.node.blockstore import StoreCorrupted, StoreError
from chain.node.node import Node
from tests.chain.node.conftest import node_settings, start_harness
from tests.helpers.node import make_network, transfer_tx

pytestmark = pytest.mark.anyio


async def build_chain(tmp_path: Path, database_url: str, blocks: int = 5):
    network = make_network(tmp_path / "net")
    h = await start_harness(network, tmp_path / "node", database_url=database_url)
    for slot in range(1, blocks + 1):
        tx = transfer_tx(network.genesis, "alice", "bob", slot, nonce=slot - 1)
        h.node.submit_transaction(tx.to_dict(), gossip=False)
        await h.produce(slot)
    root, head = compute_state_root(h.node.state), h.node.state.head_id
    await h.client.aclose()
    await h.node.stop()
    return network, root, head


async def test_restart_resumes_with_the_same_state_root(tmp_path: Path, database_url: str) -> None:
    network, root, head = await build_chain(tmp_path, database_url)
    node = Node(node_settings(network, tmp_path / "node", database_url=database_url))
    node.open()
    try:
        assert node.state.head_id == head
        assert compute_state_root(node.state) == root
        assert node.state.accounts["bob"].balance == 1_000_000_0000 + 15
        assert node.last_produced_slot == 5
    finally:
        node.blockstore.close()


async def test_never_produces_twice_for_a_slot_after_restart(tmp_path: Path, database_url: str) -> None:
    network, _, _ = await build_chain(tmp_path, database_url, blocks=3)
    h = await start_harness(network, tmp_path / "node", database_url=database_url)
    try:
        # Pretend the chain forgot block 3 but our slashing-protection record did not.
        h.clock.at_slot(3)
        assert h.node.last_produced_slot == 3
        assert await h.node.produce(3) is None
        h.clock.at_slot(4)
        assert await h.node.produce(4) is not None
    finally:
        await h.client.aclose()
        await h.node.stop()


def corrupt(database_url: str, height: int) -> None:
    from service_shell.db import make_engine

    engine = make_engine(database_url)
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE node_block SET data = :data WHERE height = :h"),
            {"data": b'{"header": "truncated', "h": height},
        )
    engine.dispose()


async def test_corrupted_block_is_detected_at_start_up(tmp_path: Path, database_url: str) -> None:
    network, _, _ = await build_chain(tmp_path, database_url)
    corrupt(database_url, 3)
    node = Node(node_settings(network, tmp_path / "node", database_url=database_url))
    with pytest.raises(StoreCorrupted, match="height 3 fails its checksum") as info:
        node.open()
    assert info.value.height == 3
    node.blockstore.close()
    # --repair drops it and everything above; the node resumes from height 2
    node = Node(node_settings(network, tmp_path / "node", database_url=database_url))
    node.open(repair=True)
    try:
        assert node.state.height == 2
        assert node.blockstore.count() == 2
    finally:
        node.blockstore.close()


async def test_store_of_another_chain_is_refused(tmp_path: Path, database_url: str) -> None:
    await build_chain(tmp_path, database_url, blocks=1)
    other = make_network(tmp_path / "other", producers=("beta",))
    node = Node(
        node_settings(other, tmp_path / "node", database_url=database_url, key_file=other.key_path("beta"))
    )
    with pytest.raises(StoreError, match="belongs to chain"):
        node.open()
    node.blockstore.close()
