"""Metric conventions: one worker per process, clean exposition for every registry."""

from __future__ import annotations

import subprocess

import pytest
from prometheus_client import generate_latest

from service_shell.metrics import MultipleWorkersError, require_single_worker


def test_several_workers_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    monkeypatch.setenv("WEB_CONCURRENCY", "1")
    require_single_worker()
    monkeypatch.setenv("WEB_CONCURRENCY", "4")
    with pytest.raises(MultipleWorkersError, match="exactly one worker"):
        require_single_worker()
    monkeypatch.setenv("WEB_CONCURRENCY", "1")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", "/tmp/x")
    with pytest.raises(MultipleWorkersError, match="multiprocess mode"):
        require_single_worker()


def test_the_node_app_refuses_to_start_as_one_of_several_workers(
    monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    from chain.node.api import create_app
    from chain.node.config import NodeSettings
    from chain.node.node import Node
    from tests.helpers.node import make_network

    network = make_network(tmp_path / "net")
    node = Node(NodeSettings(genesis=network.genesis_path, data_dir=tmp_path / "node", produce=False))
    monkeypatch.setenv("WEB_CONCURRENCY", "2")
    with pytest.raises(MultipleWorkersError):
        create_app(node)


def test_daemon_registries_pass_promtool(promtool: str) -> None:
    from chain.runner.daemon import RunnerMetrics
    from producer_client.daemon import ProducerMetrics

    runner = RunnerMetrics()
    runner.task_seconds.labels("hashing", "sha256").observe(0.002)
    runner.verdicts.labels("hashing", "sha256", "accept").inc()
    for registry in (runner.registry, ProducerMetrics().registry):
        text = generate_latest(registry)
        assert b"_created" not in text
        result = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, timeout=30)
        assert result.returncode == 0, result.stdout + result.stderr
