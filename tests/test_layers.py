"""The import-linter contracts (pyproject.toml, run by ``./dev lint``) catch a broken layer.

A copy of the packages gets one forbidden import of each kind the contracts guard against,
written as relative imports where Python allows them; ``lint-imports`` must name every one.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ["chain", "pool_protocol", "service_shell", "emitter", "pool_dac", "producer_client", "bppool"]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")

# (file to add, the forbidden import it makes, the module it reaches)
PROBES = [
    ("chain/core/probe_up.py", "from ..node import api", "chain.node.api"),
    ("chain/core/probe_pool.py", "from pool_protocol import requests", "pool_protocol.requests"),
    ("pool_protocol/probe_shell.py", "from service_shell import web", "service_shell.web"),
    ("service_shell/probe_client.py", "from chain.client import http", "chain.client.http"),
    ("emitter/probe_dac.py", "from pool_dac import api", "pool_dac.api"),
    ("pool_dac/probe_cli.py", "from bppool import cli", "bppool.cli"),
    ("emitter/core/probe_io.py", "import httpx", "httpx"),
    ("pool_dac/core/probe_db.py", "from .. import crud", "pool_dac.crud"),
    # appended to existing modules: HTTP only at the edge
    ("emitter/membership.py", "from service_shell.web import ApiError", "service_shell.web"),
    ("pool_dac/governance.py", "from fastapi import HTTPException", "fastapi"),
]


def expected(path: str, imported: str) -> str:
    """How lint-imports names the forbidden import the probe at ``path`` makes."""
    return f"{path.removesuffix('.py').replace('/', '.')} -> {imported}"


def run_lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--config", str(root / "pyproject.toml")],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_every_broken_layer_is_reported(tmp_path: Path) -> None:
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    for path, line, _ in PROBES:
        probe = tmp_path / path
        text = probe.read_text() if probe.exists() else '"""A forbidden import."""\n'
        probe.write_text(f"{text}\n{line}  # a forbidden import\n")
    result = run_lint_imports(tmp_path)
    output = " ".join((result.stdout + result.stderr).split())
    assert result.returncode != 0, output
    wanted = [expected(path, imported) for path, _, imported in PROBES]
    missing = [line for line in wanted if line not in output]
    assert missing == [], output
