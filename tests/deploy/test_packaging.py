"""Dockerfile, compose and systemd units: what can be checked without a container engine.

Every file they mount or copy exists, every bppool command they run is a real command of the
CLI, the config files they mount load with the services' settings, and the units pass
``systemd-analyze verify`` (apart from the install path, absent on a test machine).
"""

from __future__ import annotations

import configparser
import re
import shlex
import shutil
import subprocess
import sys
import tomllib

import pytest
import yaml

from chain.node.config import NodeSettings
from emitter.config import EmitterSettings
from pool_dac.config import DacSettings
from service_shell.settings import load_settings
from tests.deploy.conftest import DEPLOY, ROOT

COMPOSE = yaml.safe_load((DEPLOY / "compose.yml").read_text())


def bppool_help(args: list[str]) -> subprocess.CompletedProcess[str]:
    """``bppool ARGS --help`` (options dropped): exits 0 only for a real command."""
    command = [a for a in args if not a.startswith("-")]
    command = command[: next((i for i, a in enumerate(command) if "/" in a), len(command))]
    return subprocess.run(
        [sys.executable, "-m", "bppool", *command, "--help"], capture_output=True, text=True, timeout=60
    )


def test_the_dockerfile_copies_what_exists_and_pins_dependencies() -> None:
    text = (ROOT / "Dockerfile").read_text()
    for source in re.findall(r"^COPY (.+?) \S+$", text, re.M):
        for name in source.split():
            assert (ROOT / name).exists(), f"Dockerfile copies missing {name}"
    assert "-c constraints.txt" in text
    assert 'ENTRYPOINT ["bppool"]' in text
    # Every package the project installs is copied into the image
    copied = {
        name.rstrip("/") for source in re.findall(r"^COPY (.+?) \S+$", text, re.M) for name in source.split()
    }
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    roots = {pattern.rstrip("*") for pattern in packages["include"]}
    assert roots <= copied, f"the image lacks {sorted(roots - copied)}"
    assert re.search(r"^USER \w+", text, re.M), "the image must not run as root"


def test_compose_services_run_real_commands() -> None:
    services = COMPOSE["services"]
    assert {"node", "pool", "member1", "prometheus", "grafana"} <= set(services)
    for name, service in services.items():
        if service.get("image", "").startswith("bppool") and isinstance(service.get("command"), list):
            if service.get("entrypoint"):
                continue
            result = bppool_help(service["command"])
            assert result.returncode == 0, (name, result.stdout + result.stderr)
    init = " ".join(services["init"]["command"])
    assert "bppool chain init" in init
    args = shlex.split(init.split("bppool", 1)[1])
    assert bppool_help(args).returncode == 0


def test_compose_mounts_and_configs_exist() -> None:
    for service in COMPOSE["services"].values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (DEPLOY / source).exists(), f"compose mounts missing {source}"
    for config in COMPOSE["configs"].values():
        assert (DEPLOY / config["file"]).is_file()
    prometheus = COMPOSE["services"]["prometheus"]
    assert "--config.file=/etc/prometheus/prometheus.yml" in prometheus["command"]


def test_the_mounted_configs_load_with_the_services_settings() -> None:
    node = load_settings(NodeSettings, DEPLOY / "compose" / "node.toml")
    assert node.host == "0.0.0.0" and len(node.key_files) == 2
    pool = load_settings(EmitterSettings, DEPLOY / "compose" / "pool.toml")
    assert pool.node_urls == ["http://node:8888"]
    dac = DacSettings(**pool.extensions["dac"])
    members = {n for n, s in COMPOSE["services"].items() if n.startswith("member")}
    assert set(dac.bootstrap_members) == members


def test_the_members_are_scraped() -> None:
    prometheus = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    job = next(j for j in prometheus["scrape_configs"] if j["job_name"] == "bppool-members")
    targets = set(job["static_configs"][0]["targets"])
    members = {n for n in COMPOSE["services"] if n.startswith("member")}
    assert targets == {f"{m}:9101" for m in members}


UNITS = sorted((DEPLOY / "systemd").glob("*.service"))


@pytest.mark.parametrize("unit", UNITS, ids=[u.name for u in UNITS])
def test_systemd_units(unit) -> None:  # type: ignore[no-untyped-def]
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.read(unit)
    assert {"Unit", "Service", "Install"} <= set(parser.sections())
    service = parser["Service"]
    assert service["User"] == "bppool" and service["Restart"] in ("on-failure", "always")
    assert service["NoNewPrivileges"] == "true" and service["ProtectSystem"] == "strict"
    command = shlex.split(service["ExecStart"])
    assert command[0].endswith("/bppool")
    assert bppool_help(command[1:]).returncode == 0, service["ExecStart"]
    if shutil.which("systemd-analyze"):
        result = subprocess.run(
            ["systemd-analyze", "verify", "--man=false", str(unit)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        problems = [
            line
            for line in (result.stdout + result.stderr).splitlines()
            if line.strip() and "is not executable" not in line and "bppool.service" not in line
        ]
        assert problems == [], problems


GROUP = yaml.safe_load((DEPLOY / "compose.group.yml").read_text())


def test_the_group_override_runs_three_instances_on_one_postgresql(monkeypatch: pytest.MonkeyPatch) -> None:
    from producer_client.config import ProducerSettings

    services = GROUP["services"]
    instances = [n for n, s in services.items() if s.get("command", [None])[:2] == ["emitter", "serve"]]
    assert sorted(instances) == ["pool", "pool2", "pool3"]
    for config in GROUP["configs"].values():
        assert (DEPLOY / config["file"]).is_file()
    for name in instances:
        service = services[name]
        assert bppool_help(service["command"]).returncode == 0
        env = service["environment"]
        assert env["BPPOOL_EMITTER_INSTANCE_NAME"] == name
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        settings = load_settings(EmitterSettings, DEPLOY / "compose" / "pool-group.toml")
        assert settings.database_url is not None and settings.database_url.startswith("postgresql://")
        assert settings.instance == name and settings.url == f"http://{name}:8900"
        assert "postgres" in service["depends_on"]
    member_env = services["member1"]["environment"]
    monkeypatch.setenv("BPPOOL_PRODUCER_EMITTER_URLS", member_env["BPPOOL_PRODUCER_EMITTER_URLS"])
    member = ProducerSettings()
    assert member.emitters == [f"http://{n}:8900" for n in ("pool", "pool2", "pool3")]
    prometheus = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.group.yml").read_text())
    job = next(j for j in prometheus["scrape_configs"] if j["job_name"] == "bppool-pool")
    assert set(job["static_configs"][0]["targets"]) == {f"{n}:8900" for n in instances}
    assert "--config.file=/etc/prometheus/prometheus.group.yml" in services["prometheus"]["command"]
