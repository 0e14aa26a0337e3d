"""Dependency direction: chain <- emitter, pool_dac, producer_client <- bppool, never back.

The three middle packages are siblings: none imports another (the pool service finds the DAC
through an entry point; shared protocol code lives in the chain package)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = {
    "chain": {"emitter", "pool_dac", "producer_client", "bppool"},
    "emitter": {"pool_dac", "producer_client", "bppool"},
    "pool_dac": {"emitter", "producer_client", "bppool"},
    "producer_client": {"emitter", "pool_dac", "bppool"},
}


def imports(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_only_downwards(package: str) -> None:
    bad = []
    for path in (ROOT / package).rglob("*.py"):
        for line, name in imports(path):
            if name.split(".")[0] in FORBIDDEN[package]:
                bad.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    assert bad == []
