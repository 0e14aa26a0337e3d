"""The Patroni configuration shipped for the pool's database (an emitter group's claims): it
passes Patroni's own validator (apart from what depends on the machine it runs on: its hosts
are examples) and keeps replication synchronous, strictly."""

from __future__ import annotations

import subprocess

import yaml

from tests.deploy.conftest import DEPLOY

CONFIG = DEPLOY / "patroni" / "patroni.yml"
# What the validator says of example hosts and of this machine, not of the configuration.
ENVIRONMENT = ("Name or service not known", "is not reachable", "is already in use", "must not contain")


def test_patroni_validates_the_configuration(patroni: str) -> None:
    result = subprocess.run(
        [patroni, "--validate-config", str(CONFIG)], capture_output=True, text=True, timeout=60
    )
    problems = [
        line
        for line in (result.stdout + result.stderr).splitlines()
        if line.strip() and not any(e in line for e in ENVIRONMENT)
    ]
    assert not problems, problems


def test_the_validator_catches_a_broken_configuration(patroni: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    broken = tmp_path / "patroni.yml"
    broken.write_text(CONFIG.read_text().replace("ttl: 30", "ttl: thirty"))
    result = subprocess.run(
        [patroni, "--validate-config", str(broken)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0 and "ttl" in result.stdout + result.stderr


def test_replication_is_strictly_synchronous_and_commits_durable() -> None:
    config = yaml.safe_load(CONFIG.read_text())
    dcs = config["bootstrap"]["dcs"]
    assert dcs["synchronous_mode"] is True and dcs["synchronous_mode_strict"] is True
    assert dcs["synchronous_node_count"] >= 1 and dcs["maximum_lag_on_failover"] == 0
    parameters = dcs["postgresql"]["parameters"]
    assert parameters["synchronous_commit"] in ("on", "remote_apply")
    assert parameters["fsync"] == "on" and parameters["full_page_writes"] == "on"
