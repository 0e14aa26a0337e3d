"""The Prometheus configuration and rules: promtool check config / rules, and the rule tests."""

from __future__ import annotations

import subprocess

import yaml

from tests.deploy.conftest import DEPLOY

PROMETHEUS = DEPLOY / "prometheus"
ALERTS_NEEDED = {
    "BppoolPoolMissedSlots",
    "BppoolFallbackTooOften",
    "BppoolMemberNotDelivering",
    "BppoolEmitterNotEmitting",
    "BppoolEmitterNotReady",
    "BppoolEmitterStorageFailing",
    "BppoolChainLibStalled",
    "BppoolProducerJailed",
    "BppoolPayoutFailed",
    "BppoolPoolMissedOnChain",
    "BppoolTaskFailing",
    "BppoolTaskDown",
}


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=60, cwd=PROMETHEUS)


def test_promtool_checks_the_config(promtool: str) -> None:
    result = run(promtool, "check", "config", "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_promtool_checks_the_rules(promtool: str) -> None:
    files = sorted(str(p.relative_to(PROMETHEUS)) for p in (PROMETHEUS / "rules").glob("*.yml"))
    result = run(promtool, "check", "rules", *files)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_a_rule_unit_test(promtool: str) -> None:
    result = run(promtool, "test", "rules", "tests/alerts_test.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    alerts = {
        rule["alert"]
        for path in (PROMETHEUS / "rules").glob("*.yml")
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
        if "alert" in rule
    }
    assert alerts >= ALERTS_NEEDED
    tested = {
        case["alertname"]
        for test in yaml.safe_load((PROMETHEUS / "tests" / "alerts_test.yml").read_text())["tests"]
        for case in test.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    assert alerts <= tested, f"alerts without a firing test: {sorted(alerts - tested)}"


def test_the_scrape_jobs_cover_every_service() -> None:
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    jobs = {job["job_name"] for job in config["scrape_configs"]}
    assert jobs == {"bppool-node", "bppool-pool", "bppool-members", "bppool-runners"}
