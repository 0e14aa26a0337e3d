"""The pool service's readiness: 503 naming a background task while it is down, and while
the replica does not follow the node's canonical head; a failed follower recovers on its own."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from chain.core import build_block
from tests.emitter.conftest import PoolHarness, eventually
from tests.helpers.chain import key_for

pytestmark = pytest.mark.anyio


async def readyz(pool: PoolHarness) -> tuple[int, dict[str, Any]]:
    async with httpx.AsyncClient(base_url=pool.emitter_url, timeout=5) as http:
        response = await http.get("/readyz")
    return response.status_code, response.json()


async def metric(pool: PoolHarness, name: str, labels: dict[str, str] | None = None) -> float | None:
    return pool.emitter.metrics.registry.get_sample_value(name, labels or {})


async def test_a_task_down_makes_the_service_unready_naming_it(pool: PoolHarness, monkeypatch) -> None:
    emitter = pool.emitter
    emitter.supervisor.stable_s = 0.3
    assert await readyz(pool) == (
        200,
        {"ready": True, "following": True, "head_block_num": 0, "storage": "ok", "reasons": {}},
    )
    assert await metric(pool, "bppool_task_failures_total", {"task": "expect_loop"}) == 0
    expect = emitter.expectation.expect
    calls = []

    async def broken() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("a bug in validating ahead")
        await expect()

    monkeypatch.setattr(emitter.expectation, "expect", broken)
    await eventually(lambda: emitter.supervisor.down(), what="the expect loop to fail")
    status, body = await readyz(pool)
    assert status == 503 and body["ready"] is False
    assert body["reasons"]["tasks_down"] == {"expect_loop": "RuntimeError: a bug in validating ahead"}
    assert await metric(pool, "bppool_task_failures_total", {"task": "expect_loop"}) == 1
    assert await metric(pool, "bppool_emitter_ready") == 0
    # Restarted with backoff, running again: ready again.
    await eventually(lambda: len(calls) > 1 and not emitter.supervisor.down(), what="the restart")
    assert (await readyz(pool))[0] == 200
    assert await metric(pool, "bppool_emitter_ready") == 1


async def test_a_failed_follower_is_restarted_on_a_rebuilt_replica(pool: PoolHarness, monkeypatch) -> None:
    emitter, follower = pool.emitter, pool.emitter.follower
    emitter.supervisor.stable_s = 0.3
    on_head = follower._on_head_event
    failed: list[int] = []

    async def broken(data: dict[str, Any]) -> None:
        if not failed:
            failed.append(1)
            raise KeyError("lib")  # as fork choice's _finalize once did
        await on_head(data)

    monkeypatch.setattr(follower, "_on_head_event", broken)
    await pool.open_slot(1)
    await pool.members["alice"].submit_candidate(pool.candidate("alice"))
    await pool.node_has_slot(1)
    await eventually(lambda: failed, what="the follower to fail")
    await eventually(lambda: "follower" in emitter.supervisor.down(), what="the follower reported down")
    status, body = await readyz(pool)
    assert status == 503 and "follower" in body["reasons"]["tasks_down"]
    assert await metric(pool, "bppool_task_failures_total", {"task": "follower"}) == 1
    # Rebuilt from genesis, caught up with the node, and ready again.
    await eventually(
        lambda: follower.state.head_id == pool.node.state.head_id and not emitter.supervisor.down(),
        what="the replica to recover",
    )
    await eventually(lambda: follower.lag() is None, what="the replica to follow the node again")
    assert (await readyz(pool))[0] == 200
    await pool.close_slot(1)
    # The pool goes on: the next slot is filled on the node's head.
    await pool.open_slot(2)
    assert emitter.run is not None and emitter.run.prev_id == pool.node.state.head_id
    result = await pool.members["bob"].submit_candidate(pool.candidate("bob"))
    assert result["selected"] is True
    await pool.node_has_slot(2)


async def test_a_replica_on_a_stale_branch_is_not_ready(pool: PoolHarness) -> None:
    follower = pool.emitter.follower
    assert (await readyz(pool))[0] == 200
    # Two pool blocks the node never took: the replica's head is on its own branch.
    async with follower.lock:
        for slot in (1, 2):
            built = build_block(follower.state, slot=slot, producer="pool", keep=True)
            follower.adopt(built.block.signed_by_producer(key_for("pool")), built.undo or [])
    # Within one slot's time of the change it may be our blocks on their way; then it is not.
    assert follower.lag() is None
    pool.clock.set(pool.clock.now_ms() + 500)
    status, body = await readyz(pool)
    assert status == 503 and body["following"] is False
    assert "is not the node's head 0" in body["reasons"]["following"]
    assert await metric(pool, "bppool_emitter_following") == 0
    assert await metric(pool, "bppool_emitter_ready") == 0


async def test_one_block_of_ours_on_its_way_to_the_node_is_within_a_slot(pool: PoolHarness) -> None:
    follower = pool.emitter.follower
    async with follower.lock:
        built = build_block(follower.state, slot=1, producer="pool", keep=True)
        follower.adopt(built.block.signed_by_producer(key_for("pool")), built.undo or [])
    pool.clock.set(pool.clock.now_ms() + 500)
    assert follower.lag() is None  # one slot ahead of the node's head, on the node's chain
    assert (await readyz(pool))[0] == 200
