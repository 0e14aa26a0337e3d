"""``bppool.devnet_child``: a devnet process ends when the devnet does, however it ends."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from bppool.devnet_child import child_command
from tests.helpers.procs import is_alive, wait_for

ROOT = Path(__file__).resolve().parents[2]

# A stand-in for the devnet: starts one child through the shim, prints its pid, then waits.
PARENT = """
import subprocess, sys, os, time
child = subprocess.Popen([sys.executable, "-c", *sys.argv[1:3], "--parent", str(os.getpid()), *sys.argv[3:]])
print(child.pid, flush=True)
time.sleep(600)
"""
# The child: the shim's main, on the real platform or as if the kernel had no PR_SET_PDEATHSIG.
CHILD = """
import sys
platform = sys.argv.pop(1)
sys.platform = platform
from bppool.devnet_child import main
main()
"""


@pytest.mark.parametrize("platform", [sys.platform, "other"], ids=["pdeathsig", "watchdog-only"])
def test_the_child_ends_when_its_parent_is_killed(tmp_path: Path, platform: str) -> None:
    loaded = tmp_path / "loaded"
    # The child never gets a genesis: it would wait for it for 600 s.
    args = [platform, "--loaded", str(loaded), "--genesis", str(tmp_path / "genesis.json"), "--", "version"]
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, CHILD, *args], stdout=subprocess.PIPE, text=True, cwd=ROOT
    )
    try:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        wait_for(loaded.exists, 30, "the child to say it was loaded", 0.05)
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(10)
        wait_for(lambda: not is_alive(child), 10, "the child to end with its parent", 0.05)
    finally:
        for pid in (parent.pid, locals().get("child")):
            if isinstance(pid, int) and is_alive(pid):
                os.kill(pid, signal.SIGKILL)
        parent.wait(10)
        if parent.stdout is not None:
            parent.stdout.close()


def test_a_child_whose_parent_is_already_gone_exits_at_once(tmp_path: Path) -> None:
    """The parent may die before the child asks to die with it: the child checks."""
    not_my_parent = os.getppid()  # pytest's parent, not the child's
    result = subprocess.run(
        child_command(
            parent=not_my_parent,
            loaded=tmp_path / "loaded",
            genesis=tmp_path / "genesis.json",
            args=["version"],
        ),
        cwd=ROOT,
        timeout=30,
    )
    assert result.returncode == 1
    assert not (tmp_path / "loaded").exists()


def test_the_child_runs_the_command_once_the_genesis_exists(tmp_path: Path) -> None:
    (tmp_path / "genesis.json").write_text("{}")
    result = subprocess.run(
        child_command(
            parent=os.getpid(),
            preload=["json"],
            loaded=tmp_path / "loaded",
            genesis=tmp_path / "genesis.json",
            args=["version"],
        ),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("bppool ")
    assert (tmp_path / "loaded").exists()
