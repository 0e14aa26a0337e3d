"""A devnet scraped by a real Prometheus with bppool's rules: every dashboard panel's query,
every template variable, every recording rule and every alert expression is run against it.
Panels and recording rules must return data (a panel on a metric nobody exports fails);
alert expressions must parse. Every scraped ``/metrics`` passes ``promtool check metrics``.
"""

from __future__ import annotations

import asyncio
import io
import json
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from rich.console import Console

from bppool.devnet import Devnet
from tests.deploy.conftest import DEPLOY, require_tool
from tests.helpers.procs import free_port_block

pytestmark = pytest.mark.e2e

RATE_WINDOW = "20s"


def prometheus_config(devnet: Devnet) -> dict[str, Any]:
    def target(url: str) -> str:
        return url.removeprefix("http://")

    members = [target(devnet.procs[m].url) for m in devnet.member_names]
    return {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(p) for p in sorted((DEPLOY / "prometheus" / "rules").glob("*.yml"))],
        "scrape_configs": [
            {"job_name": "bppool-node", "static_configs": [{"targets": [target(devnet.node_url)]}]},
            {"job_name": "bppool-pool", "static_configs": [{"targets": [target(devnet.emitter_url)]}]},
            {"job_name": "bppool-members", "static_configs": [{"targets": members}]},
        ],
    }


def panel_queries() -> list[tuple[str, str, str]]:
    """``(dashboard, panel, expr)`` for every target of every committed dashboard."""
    found = []
    for path in sorted((DEPLOY / "grafana" / "dashboards").glob("*.json")):
        dashboard = json.loads(path.read_text())
        for panel in dashboard["panels"]:
            for target in panel.get("targets", []):
                found.append((dashboard["title"], panel["title"], target["expr"]))
    return found


def variable_queries() -> list[str]:
    found = []
    for path in sorted((DEPLOY / "grafana" / "dashboards").glob("*.json")):
        for variable in json.loads(path.read_text()).get("templating", {}).get("list", []):
            found.append(variable["query"])
    return found


def rules() -> tuple[list[str], list[tuple[str, str]]]:
    records, alerts = [], []
    for path in sorted((DEPLOY / "prometheus" / "rules").glob("*.yml")):
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                if "record" in rule:
                    records.append(rule["record"])
                else:
                    alerts.append((rule["alert"], rule["expr"]))
    return records, alerts


class Prom:
    def __init__(self, url: str) -> None:
        self.http = httpx.Client(base_url=url, timeout=10)

    def query(self, expr: str) -> dict[str, Any]:
        response = self.http.get("/api/v1/query", params={"query": expr})
        body = response.json()
        assert response.status_code == 200 and body["status"] == "success", (expr, body)
        return body["data"]

    def has_data(self, expr: str) -> bool:
        return bool(self.query(expr)["result"])


def substitute(expr: str, members: list[str]) -> str:
    return expr.replace("$__rate_interval", RATE_WINDOW).replace("$member", "|".join(members))


async def drive(devnet: Devnet) -> None:
    await devnet.start()
    traffic = asyncio.create_task(devnet.traffic())
    try:
        async with httpx.AsyncClient(base_url=devnet.emitter_url, timeout=5) as http:
            deadline = time.monotonic() + 150
            while time.monotonic() < deadline:
                devnet.check_processes()
                epochs = (await http.get("/v1/dac/epochs")).json()["epochs"]
                if any(e["status"] == "paid" for e in epochs):
                    return
                await asyncio.sleep(1)
            raise AssertionError("no DAC epoch was paid in time")
    finally:
        traffic.cancel()
        await asyncio.gather(traffic, return_exceptions=True)


def test_every_dashboard_query_and_rule_returns_data_from_a_devnet(tmp_path: Path) -> None:
    prometheus_bin = require_tool("prometheus")
    promtool = require_tool("promtool")
    devnet = Devnet(members=3, data_dir=tmp_path / "devnet", tx_rate=10, console=Console(file=io.StringIO()))
    devnet.prepare()
    port = free_port_block(1)
    config = tmp_path / "prometheus.yml"
    config.write_text(yaml.safe_dump(prometheus_config(devnet)))
    check = subprocess.run([promtool, "check", "config", str(config)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    log = open(tmp_path / "prometheus.log", "wb")  # noqa: SIM115 - closed below
    server = subprocess.Popen(
        [
            prometheus_bin,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    prom = Prom(f"http://127.0.0.1:{port}")
    try:
        asyncio.run(drive(devnet))
        time.sleep(3)  # a few more scrapes and rule evaluations after the payout

        # Every scrape target is up and its exposition passes promtool.
        targets = prom.query("up")["result"]
        assert {t["metric"]["job"] for t in targets} == {"bppool-node", "bppool-pool", "bppool-members"}
        assert all(t["value"][1] == "1" for t in targets), targets
        for proc in devnet.procs.values():
            text = httpx.get(proc.metrics_url, timeout=5).content
            lint = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, timeout=30)
            assert lint.returncode == 0, (proc.name, lint.stdout + lint.stderr)

        members = devnet.member_names
        missing = []
        for dashboard, panel, expr in panel_queries():
            if not prom.has_data(substitute(expr, members)):
                missing.append(f"{dashboard} / {panel}: {expr}")
        assert missing == [], "panels without data:\n" + "\n".join(missing)

        for query in variable_queries():
            metric, label = re.fullmatch(r"label_values\((\w+),\s*(\w+)\)", query).groups()  # type: ignore[union-attr]
            values = {s["metric"][label] for s in prom.query(metric)["result"]}
            assert set(members) <= values, (query, values)

        records, alerts = rules()
        empty = [name for name in records if not prom.has_data(name)]
        assert empty == [], f"recording rules without data: {empty}"
        for _name, expr in alerts:
            prom.query(expr)  # parses and evaluates (a healthy devnet fires nothing that matters)
        firing = {a["labels"]["alertname"] for a in prom.http.get("/api/v1/alerts").json()["data"]["alerts"]}
        assert not firing & {"BppoolPoolServiceDown", "BppoolEmitterNotReady", "BppoolPayoutFailed"}, firing
    finally:
        devnet.stop_all()
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
        prom.http.close()
