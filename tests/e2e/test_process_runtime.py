"""The process runtime of the real services: ``bppool chain node`` and ``bppool emitter serve``
each pace garbage collection for their process (its failures are the ``gc_pacer`` series)."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tests.helpers.node import make_network
from tests.helpers.procs import Processes, is_ready, wait_for, write_node_and_pool_configs

pytestmark = pytest.mark.e2e

PACER_SERIES = 'bppool_task_failures_total{task="gc_pacer"} 0.0'


def test_each_service_process_paces_its_garbage_collection(tmp_path: Path, procs: Processes) -> None:
    now = int(time.time() * 1000)
    network = make_network(tmp_path / "net", producers=("pool",), genesis_time=now - now % 1000)
    node_url, emitter_url = write_node_and_pool_configs(
        tmp_path,
        network.genesis_path,
        network.key_path("pool"),
        database_url=f"sqlite:///{tmp_path / 'pool.db'}",
    )
    procs.start("node", ["chain", "node", "--config", str(tmp_path / "node.toml")])
    wait_for(lambda: is_ready(node_url), 30, "the node")
    procs.start("pool", ["emitter", "serve", "--config", str(tmp_path / "emitter.toml")])
    wait_for(lambda: is_ready(emitter_url), 60, "the pool service")
    for url in (node_url, emitter_url):
        assert PACER_SERIES in httpx.get(f"{url}/metrics", timeout=5).text, url
