"""The member daemon: joins, follows the feed, builds from its mempool mirror, delivers."""

from __future__ import annotations

import asyncio

import pytest

from producer_client.config import ProducerSettings
from producer_client.daemon import ProducerDaemon
from tests.emitter.conftest import PoolHarness, eventually
from tests.helpers.node import transfer_tx

pytestmark = pytest.mark.anyio


def daemon_for(pool: PoolHarness, name: str, **settings: object) -> ProducerDaemon:
    return ProducerDaemon(
        ProducerSettings(
            key_file=pool.network.key_path(name),
            genesis=pool.network.genesis_path,
            emitter_url=pool.emitter_url,
            node_url=pool.node_url,
            **settings,  # type: ignore[arg-type]
        ),
        clock=pool.clock,
    )


async def test_daemon_applies_waits_for_admission_and_wins_a_slot(pool: PoolHarness) -> None:
    daemon = daemon_for(pool, "dave")
    task = asyncio.create_task(daemon.run())
    try:
        await eventually(lambda: "dave" in pool.emitter.members, 10, "dave to apply")
        assert pool.emitter.members["dave"]["status"] == "applied"
        await pool.admin.admin_member("dave", "admit")
        await eventually(lambda: pool.emitter.feed.subscribers > 0, 10, "dave on the slot feed")
        tx = transfer_tx(pool.network.genesis, "carol", "bob", 9)
        pool.node.submit_transaction(tx.to_dict(), gossip=False)
        await eventually(lambda: tx.id in daemon.follower.mempool, 10, "dave's mempool mirror")
        await pool.open_slot(1)
        await eventually(lambda: daemon.results, 10, "dave's delivery")
        slot, outcome = daemon.results[-1]
        assert slot == 1 and outcome.startswith("selected, 1 txs")
        await pool.node_has_slot(1)
        assert pool.node.head_block is not None and pool.node.head_block.header.builder == "dave"
        assert daemon.metrics.wins._value.get() == 1
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await daemon.stop()


async def test_simulated_failures_skip_or_deliver_garbage(pool: PoolHarness) -> None:
    import random

    daemon = daemon_for(pool, "alice", failure_rate=1.0)
    daemon.rng = random.Random(3)
    await daemon.start()
    try:
        await daemon.follower.synced.wait()
        await pool.open_slot(1)
        run = pool.emitter.run
        assert run is not None
        opened = {"slot": 1, "prev_id": run.prev_id, "pool": "pool"}
        outcomes = {await daemon.deliver(opened) for _ in range(6)}
        assert any(o.startswith("skipped (simulated failure)") for o in outcomes)
        assert any(o.startswith("rejected") for o in outcomes)
    finally:
        await daemon.stop()


async def test_the_daemon_builds_the_selection_slot_open_names(pool: PoolHarness) -> None:
    """With ``tx_seq`` in slot_open the daemon builds from the transactions numbered up to it
    (the block the emitter validated ahead), leaving later ones for a later slot."""
    daemon = daemon_for(pool, "alice")
    await daemon.start()
    try:
        await daemon.follower.synced.wait()
        g = pool.network.genesis
        early = transfer_tx(g, "bob", "dave", 1)
        late = transfer_tx(g, "carol", "dave", 1)
        for tx in (early, late):
            pool.node.submit_transaction(tx.to_dict(), gossip=False)
        await eventually(lambda: late.id in daemon.follower.mempool, 10, "alice's mempool mirror")
        await pool.open_slot(1)
        run = pool.emitter.run
        assert run is not None
        opened = {
            "slot": 1,
            "prev_id": run.prev_id,
            "pool": "pool",
            "tx_seq": pool.node.mempool.seq_of(early.id),
        }
        outcome = await daemon.deliver(opened)
        assert outcome.startswith("selected, 1 txs"), outcome
        await pool.node_has_slot(1)
        assert pool.node.head_block is not None
        assert [t.id for t in pool.node.head_block.transactions] == [early.id]
    finally:
        await daemon.stop()


async def test_a_daemon_that_connects_while_a_slot_is_open_delivers_for_it(pool: PoolHarness) -> None:
    """Back on the feed in the middle of a slot (after a restart of the pool service), the
    daemon delivers for the slot the feed's ``hello`` names, once."""
    await pool.open_slot(1)
    daemon = daemon_for(pool, "alice")
    task = asyncio.create_task(daemon.run())
    try:
        await eventually(lambda: daemon.results, 10, "alice's delivery for the open slot")
        assert daemon.results == [(1, daemon.results[0][1])]
        assert daemon.results[0][1].startswith("selected"), daemon.results
        assert daemon.metrics.feed_connects._value.get() == 1
        await pool.close_slot(1)
        await pool.node_has_slot(1)
        assert pool.node.head_block is not None and pool.node.head_block.header.builder == "alice"
        assert len(daemon.results) == 1
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await daemon.stop()
