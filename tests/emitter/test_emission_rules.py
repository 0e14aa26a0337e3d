"""The emission rules, in process against a real node (SQLite and PostgreSQL).

A recorded emission no node took is pushed again after a restart, while the chain can take it;
a slot that has its record is never signed again: a second emission for it delivers the
stored block. (The same rules under SIGKILL at each step: tests/e2e/test_emission_crash.py.)
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from pathlib import Path

import pytest

from emitter import crud
from tests.emitter.conftest import (
    PoolHarness,
    eventually,
    record_elsewhere,
    restart_pool,
    start_pool,
)

pytestmark = pytest.mark.anyio


async def test_a_recorded_emission_no_node_took_is_pushed_after_a_restart(
    tmp_path: Path, database_url: str
) -> None:
    async with AsyncExitStack() as stack:
        async with AsyncExitStack() as first:
            h = await start_pool(first, tmp_path, database_url, node_stack=stack)
            node, node_url, clock = h.node, h.node_url, h.clock
            await h.open_slot(1)
            assert (await h.members["alice"].submit_candidate(h.candidate("alice")))["selected"]
            await h.node_has_slot(1)
            await h.open_slot(2)
            recorded = record_elsewhere(h, 2, "bob")  # then the process died
        assert node.state.slot == 1
        # Restarted two slots later: slot 2 is over, and its block still extends the chain.
        clock.at_slot(4, 50)
        h2 = await restart_pool(stack, tmp_path, h)
        assert node.state.slot == 2 and node.head_block is not None and node.head_block.id == recorded.id
        assert crud.get_emission(h2.emitter.engine, slot=2)["accepted_by"] == node_url
        # The chain goes on from it.
        await h2.open_slot(5)
        assert (await h2.members["carol"].submit_candidate(h2.candidate("carol")))["selected"]
        await h2.node_has_slot(5)
        canonical = node.blockstore.get_canonical(2)
        assert canonical is not None and canonical[0] == recorded.id


async def test_a_second_emission_for_a_recorded_slot_delivers_the_stored_block(
    pool: PoolHarness,
) -> None:
    await pool.open_slot(1)
    recorded = record_elsewhere(pool, 1, "bob")  # recorded by another emitter on this database
    candidate = pool.candidate("alice")
    result = await pool.members["alice"].submit_candidate(candidate)
    # Not selected: the slot has its claim and block, and that block (never a second one) goes
    # out at the cutoff, the node not having it from the emitter that recorded it.
    assert result["verdict"] == "valid" and result["selected"] is False
    await pool.close_slot(1)
    await pool.node_has_slot(1)
    assert pool.node.head_block is not None and pool.node.head_block.id == recorded.id
    assert crud.get_emission(pool.emitter.engine, slot=1)["block_id"] == recorded.id
    # The replica kept nothing of the refused candidate: it follows the node.
    await eventually(
        lambda: pool.emitter.follower.state.head_id == recorded.id,
        what="the replica to take the stored block",
    )
    # The outcome is the claim holder's to log (here: gone); this instance logs none of its own.
    assert not crud.slot_outcomes(pool.emitter.engine, limit=1)
    # Nothing was tried again for the slot (no further signature, no fallback).
    registry = pool.emitter.metrics.registry
    assert registry.get_sample_value("bppool_emitter_claims_total", {"result": "claimed"}) == 1
    assert registry.get_sample_value("bppool_emitter_claims_total", {"result": "won"}) == 0


async def test_while_an_emission_awaits_its_database_the_replica_stands_at_the_parent(
    tmp_path: Path, postgres_url: str
) -> None:
    """On PostgreSQL the claim and the record are awaited and other tasks run meanwhile, some
    reading the replica without its lock (the follower's catch-up, the DAC, the API): they see
    the slot's parent, never a candidate that may not be emitted. Here the database is slowed
    down and the replica read during the wait."""
    import asyncio

    async with AsyncExitStack() as stack:
        h = await start_pool(stack, tmp_path, postgres_url)
        writer = h.emitter.hot_writer
        assert writer is not None
        seen: list[tuple[str, int]] = []
        original = writer.run

        async def slow_run(work, **kwargs):  # type: ignore[no-untyped-def]
            await asyncio.sleep(0.05)
            state = h.emitter.follower.state
            seen.append((state.head_id, state.height))
            return await original(work, **kwargs)

        writer.run = slow_run  # type: ignore[method-assign]
        await h.open_slot(1)
        parent = h.emitter.follower.state.head_id
        candidate = h.candidate("alice")
        assert (await h.members["alice"].submit_candidate(candidate))["selected"]
        assert seen and all(head == parent and height == 0 for head, height in seen), seen
        assert h.emitter.follower.state.head_id == candidate.id
        await h.node_has_slot(1)
