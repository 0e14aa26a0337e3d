"""The process runtime belongs to the process: services started in a test process leave the
garbage collector alone, and the entry point that runs a service as a process paces it."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import AsyncExitStack
from pathlib import Path

import httpx
import pytest

from chain.node.api import create_app as create_node_app
from chain.node.config import NodeSettings
from chain.node.node import Node
from service_shell.runtime import GcPacer, pace_app
from tests.emitter.conftest import eventually, pool_network, start_pool
from tests.helpers.chain import GENESIS_TIME
from tests.helpers.node import FakeClock
from tests.helpers.servers import serve_app

pytestmark = pytest.mark.anyio


@pytest.fixture
def collector() -> Iterator[None]:
    """Nothing frozen when the test starts (an earlier test may have frozen what it left
    alive); the collector switched on or off as the test found it, whatever the test does."""
    enabled = gc.isenabled()
    gc.unfreeze()
    yield
    gc.unfreeze()
    if enabled:
        gc.enable()
    else:
        gc.disable()


@pytest.mark.parametrize("enabled", [True, False], ids=["gc-on", "gc-off"])
async def test_a_node_and_an_emitter_in_one_process_leave_the_collector_alone(
    tmp_path: Path, collector: None, enabled: bool
) -> None:
    gc.enable() if enabled else gc.disable()
    async with AsyncExitStack() as stack:
        pool = await start_pool(stack, tmp_path, f"sqlite:///{tmp_path / 'pool.db'}")
        assert pool.node.ready and pool.emitter.ready
        assert gc.isenabled() is enabled
        assert gc.get_freeze_count() == 0
    assert gc.isenabled() is enabled
    assert gc.get_freeze_count() == 0


async def test_the_process_runtime_paces_collection_while_the_service_runs(
    tmp_path: Path, collector: None
) -> None:
    """What ``run_app`` installs for ``bppool chain node`` (and ``bppool emitter serve``): the
    pacer starts with the service, its failures are the service's ``gc_pacer`` series, and it
    gives collection back when the service stops."""
    gc.enable()
    network = pool_network(tmp_path)
    node = Node(
        NodeSettings(genesis=network.genesis_path, key_file=None, data_dir=tmp_path / "node", produce=False),
        clock=FakeClock(GENESIS_TIME + 100),
    )
    app = create_node_app(node)
    pacer = pace_app(app, node.quiet_ms, node.supervisor)
    assert isinstance(app.state.gc_pacer, GcPacer) and app.state.gc_pacer is pacer
    assert not pacer.running
    async with serve_app(app, lifespan="on") as url:
        await eventually(lambda: node.ready, what="the node to start")
        assert pacer.running and not gc.isenabled()
        assert pacer.quiet_ms == node.quiet_ms
        async with httpx.AsyncClient(base_url=url, timeout=5) as http:
            metrics = (await http.get("/metrics")).text
        assert 'bppool_task_failures_total{task="gc_pacer"} 0.0' in metrics
    assert not node.ready
    assert not pacer.running and gc.isenabled()
