"""The node's readiness: 503 naming a background task while it is down."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.chain.node.conftest import NodeHarness

pytestmark = pytest.mark.anyio


async def test_a_failed_loop_makes_the_node_unready_until_it_runs_again(harness: NodeHarness) -> None:
    node = harness.node
    node.supervisor.stable_s = 0.3
    assert (await harness.client.get("/readyz")).json() == {"ready": True, "head_block_num": 0, "reasons": {}}
    on_head_change = node.mempool.on_head_change
    calls = []

    def broken(*args: object) -> None:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("a bug in mempool housekeeping")
        on_head_change(*args)  # type: ignore[arg-type]

    node.mempool.on_head_change = broken  # type: ignore[method-assign,assignment]
    deadline = time.monotonic() + 10
    while not node.supervisor.down():
        assert time.monotonic() < deadline, "the housekeeping loop never failed"
        await asyncio.sleep(0.02)
    response = await harness.client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["reasons"]["tasks_down"] == {
        "housekeeping": "RuntimeError: a bug in mempool housekeeping"
    }
    metrics = (await harness.client.get("/metrics")).text
    assert 'bppool_task_failures_total{task="housekeeping"} 1.0' in metrics
    assert 'bppool_task_down{task="housekeeping"} 1.0' in metrics
    # Restarted: once it has run again for a while, the node is ready again.
    while node.supervisor.down() or len(calls) < 2:
        assert time.monotonic() < deadline + 10, "the housekeeping loop never came back"
        await asyncio.sleep(0.02)
    assert (await harness.client.get("/readyz")).status_code == 200
