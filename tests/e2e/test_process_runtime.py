"""The process runtime of the real services: ``bppool chain node`` and ``bppool emitter serve``
each pace garbage collection for their process (its failures are the ``gc_pacer`` series)."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tests.helpers.node import make_network
from tests.helpers.procs import Processes, free_port_block, wait_for

pytestmark = pytest.mark.e2e

PACER_SERIES = 'bppool_task_failures_total{task="gc_pacer"} 0.0'


def ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_each_service_process_paces_its_garbage_collection(tmp_path: Path, procs: Processes) -> None:
    now = int(time.time() * 1000)
    network = make_network(tmp_path / "net", producers=("pool",), genesis_time=now - now % 1000)
    node_port = free_port_block(2)
    node_url, emitter_url = f"http://127.0.0.1:{node_port}", f"http://127.0.0.1:{node_port + 1}"
    (tmp_path / "node.toml").write_text(
        f'genesis = "{network.genesis_path}"\ndata_dir = "{tmp_path / "node"}"\nport = {node_port}\n'
    )
    (tmp_path / "emitter.toml").write_text(
        f'genesis = "{network.genesis_path}"\npool_key_file = "{network.key_path("pool")}"\n'
        f'node_urls = ["{node_url}"]\ndata_dir = "{tmp_path / "emitter"}"\nport = {node_port + 1}\n'
        f'database_url = "sqlite:///{tmp_path / "pool.db"}"\n\n[extensions.dac]\nenabled = false\n'
    )
    procs.start("node", ["chain", "node", "--config", str(tmp_path / "node.toml")])
    wait_for(lambda: ready(node_url), 30, "the node")
    procs.start("pool", ["emitter", "serve", "--config", str(tmp_path / "emitter.toml")])
    wait_for(lambda: ready(emitter_url), 60, "the pool service")
    for url in (node_url, emitter_url):
        assert PACER_SERIES in httpx.get(f"{url}/metrics", timeout=5).text, url
