"""The Grafana dashboards: generated from deploy/grafana/dashboards.py, committed as JSON."""

from __future__ import annotations

import importlib.util
import json
from types import ModuleType

import yaml

from tests.deploy.conftest import DEPLOY

GRAFANA = DEPLOY / "grafana"


def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bppool_dashboards", GRAFANA / "dashboards.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_json_is_what_the_code_generates() -> None:
    module = generator()
    assert module.main(["--check"]) == 0, "run: python deploy/grafana/dashboards.py"
    committed = sorted(p.stem for p in (GRAFANA / "dashboards").glob("*.json"))
    assert committed == sorted(module.DASHBOARDS)


def test_drift_is_detected(tmp_path) -> None:  # type: ignore[no-untyped-def]
    module = generator()
    module.OUT = tmp_path
    assert module.main([]) == 0
    path = tmp_path / "chain.json"
    path.write_text(path.read_text().replace("LIB lag", "LIB lag (edited by hand)"))
    assert module.main(["--check"]) == 1


def test_every_panel_queries_the_provisioned_datasource() -> None:
    datasource = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text())
    uid = datasource["datasources"][0]["uid"]
    assert uid == "bppool-prometheus"
    for path in (GRAFANA / "dashboards").glob("*.json"):
        dashboard = json.loads(path.read_text())
        assert dashboard["uid"].startswith("bppool-")
        panels = [p for p in dashboard["panels"] if p["type"] != "row"]
        assert panels, path.name
        for panel in panels:
            assert panel["datasource"] == {"type": "prometheus", "uid": uid}, (path.name, panel["title"])
            assert panel["targets"] and all(t["expr"] and t["refId"] for t in panel["targets"]), panel[
                "title"
            ]
        for variable in dashboard.get("templating", {}).get("list", []):
            assert variable["datasource"]["uid"] == uid


def test_provisioning_points_at_the_dashboards() -> None:
    provider = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "bppool.yml").read_text())
    path = provider["providers"][0]["options"]["path"]
    compose = yaml.safe_load((DEPLOY / "compose.yml").read_text())
    mounts = compose["services"]["grafana"]["volumes"]
    assert f"./grafana/dashboards:{path}:ro" in mounts
