"""Fixtures for the deployment files: the repository's deploy/ folder and the Prometheus tools."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.helpers.environment import unavailable

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


def require_tool(name: str, package: str = "prometheus") -> str:
    """The path of ``name``; a skip when missing (a failure under CI=true, where ./dev test
    installs Debian's ``package``)."""
    path = shutil.which(name)
    if path is None:
        unavailable(f"{name} is not installed (Debian package {package}; ./dev test installs it)")
    return path


@pytest.fixture
def promtool() -> str:
    return require_tool("promtool")


@pytest.fixture
def prometheus_bin() -> str:
    return require_tool("prometheus")


@pytest.fixture
def patroni() -> str:
    return require_tool("patroni", "patroni")
