"""The pure cores never import I/O libraries nor read the clock, randomness or environment."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CORES = ["chain/core", "pool_protocol", "pool_dac/core", "emitter/core"]

FORBIDDEN_MODULES = {
    "fastapi",
    "starlette",
    "uvicorn",
    "sqlmodel",
    "sqlalchemy",
    "alembic",
    "apscheduler",
    "prometheus_client",
    "httpx",
    "requests",
    "time",
    "datetime",
    "random",
    "secrets",
    "os",
    "sys",
    "uuid",
    "socket",
    "subprocess",
    "pathlib",
    "asyncio",
    "threading",
    "logging",
    "tempfile",
    "shutil",
    "io",
    "psycopg",
}
FORBIDDEN_CALLS = {"open", "input", "print", "exec", "eval", "__import__"}
FORBIDDEN_ATTRIBUTES = {"generate", "urandom", "getenv", "environ"}


def core_files() -> list[Path]:
    files = [p for core in CORES for p in (ROOT / core).rglob("*.py")]
    assert files, "no core modules found"
    return files


def violations(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            names = []
        line = getattr(node, "lineno", 0)
        for name in names:
            if name.split(".")[0] in FORBIDDEN_MODULES or name == "nacl.utils":
                found.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in FORBIDDEN_CALLS:
            found.append(f"{path.relative_to(ROOT)}:{node.lineno} calls {node.func.id}()")
        if isinstance(node, ast.Attribute) and node.attr in FORBIDDEN_ATTRIBUTES:
            found.append(f"{path.relative_to(ROOT)}:{node.lineno} uses .{node.attr}")
    return found


@pytest.mark.parametrize("path", core_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_core_module_is_pure(path: Path) -> None:
    assert violations(path) == []


def test_checker_catches_violations(tmp_path: Path) -> None:
    bad = ROOT / "chain" / "core" / "_hygiene_probe.py"
    try:
        bad.write_text("import time\nfrom httpx import Client\nimport os\nx = os.environ\nopen('f')\n")
        found = violations(bad)
    finally:
        bad.unlink()
    assert len(found) == 5
