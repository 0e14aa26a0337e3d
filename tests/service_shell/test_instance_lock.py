"""One instance per SQLite database: a second process is refused, naming the holder, until the
holder ends (however it ends: the kernel releases the lock)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from service_shell.db import DatabaseInUse, InstanceLock, sqlite_file
from tests.helpers.node import make_network
from tests.helpers.procs import BPPOOL
from tests.helpers.procs import write_node_and_pool_configs as write_configs

HOLD = """
import sys, time
from service_shell.db import InstanceLock
lock = InstanceLock(sys.argv[1], what="pool service")
lock.acquire()
print("held", flush=True)
time.sleep(120)
"""


def test_only_sqlite_files_are_locked(tmp_path: Path) -> None:
    assert sqlite_file(f"sqlite:///{tmp_path / 'e.db'}") == (tmp_path / "e.db").resolve()
    for url in ("sqlite://", "sqlite:///:memory:", "postgresql://postgres@127.0.0.1/x"):
        assert sqlite_file(url) is None
        lock = InstanceLock(url, what="pool service")
        lock.acquire()  # nothing to lock
        assert lock.held


def test_a_second_holder_is_refused_until_the_first_lets_go(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'e.db'}"
    first, second = InstanceLock(url, what="pool service"), InstanceLock(url, what="pool service")
    first.acquire()
    first.acquire()  # held already: nothing to do
    with pytest.raises(DatabaseInUse, match=rf"in use by another pool service \(pid {os.getpid()}\)"):
        second.acquire()
    assert not second.held
    first.release()
    second.acquire()
    assert second.held
    second.release()


def test_another_process_is_refused_while_alive_and_not_after_kill_9(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'e.db'}"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, url], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(DatabaseInUse) as refused:
            InstanceLock(url, what="pool service").acquire()
        assert f"(pid {holder.pid})" in str(refused.value)
        assert str((tmp_path / "e.db").resolve()) in str(refused.value)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
        if holder.stdout is not None:
            holder.stdout.close()
    lock = InstanceLock(url, what="pool service")
    lock.acquire()  # the kernel released the dead holder's lock: no stale lock file to clear
    assert lock.held
    lock.release()


def test_a_second_pool_service_on_one_sqlite_file_stops_with_a_message(tmp_path: Path) -> None:
    network = make_network(tmp_path / "net", producers=("pool",), accounts=("alice",))
    url = f"sqlite:///{tmp_path / 'emitter.db'}"
    write_configs(tmp_path, network.genesis_path, network.key_path("pool"), database_url=url)
    held = InstanceLock(url, what="pool service")
    held.acquire()
    try:
        second = subprocess.run(
            [*BPPOOL, "emitter", "serve", "--config", str(tmp_path / "emitter.toml")],
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        held.release()
    output = second.stdout + second.stderr
    assert second.returncode == 2, output
    assert "in use by another pool service" in output and f"pid {os.getpid()}" in output, output
    assert "Traceback" not in output
