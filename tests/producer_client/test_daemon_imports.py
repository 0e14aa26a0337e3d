"""A pool member loads what following the chain needs, not the node's database and web stack
(each member process of a devnet starts faster for it)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NODE_STACK = ("alembic", "fastapi", "sqlalchemy", "sqlmodel")


def test_the_member_daemon_does_not_load_the_node_stack() -> None:
    code = f"import sys, producer_client.daemon; print([m for m in {NODE_STACK!r} if m in sys.modules])"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_following_the_chain_does_not_load_the_node_service() -> None:
    # The follower keeps a replica of the node's mempool: the mempool is the core's, not the node's.
    code = (
        "import sys, producer_client.daemon; "
        "print(sorted(m for m in sys.modules if m.startswith('chain.node')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
