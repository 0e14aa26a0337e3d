"""However ``bppool devnet`` ends, none of its processes outlives it.

Each test starts a real devnet (one member) in its own process group, learns the process ids of
everything it started by walking /proc from its pid, ends it one way, and checks that every one
of those processes is gone within a bound.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.helpers.procs import BPPOOL, is_alive, parent_pid, wait_for

pytestmark = pytest.mark.e2e

MEMBERS = 1
CHILDREN = MEMBERS + 2  # the node, the pool service, the members
GONE_WITHIN_S = 30


def descendants(root: int) -> set[int]:
    """Every live process below ``root`` in the process tree."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            ppid = parent_pid(int(entry.name))
            if ppid is not None:
                children.setdefault(ppid, []).append(int(entry.name))
    found: set[int] = set()
    todo = [root]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def default_signals() -> None:
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_DFL)


def alive(pids: set[int]) -> set[int]:
    return {pid for pid in pids if is_alive(pid)}


class Run:
    """One devnet process (or a shell that started it), its output and its processes."""

    def __init__(self, tmp_path: Path, shell: bool = False) -> None:
        self.data = tmp_path / "devnet"
        self.out = tmp_path / "devnet.out"
        command = [*BPPOOL, "devnet", "--members", str(MEMBERS), "--data-dir", str(self.data)]
        if shell:
            # A background job of a non-interactive shell: bash starts it with SIGINT ignored.
            command = ["bash", "-c", '"$@" & echo $! > "$0.pid"; wait', str(tmp_path / "devnet"), *command]
        with self.out.open("wb") as out:
            self.process = subprocess.Popen(
                command,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=default_signals,  # whatever this test runner was started with
            )
        self.pid = self.process.pid
        if shell:
            pidfile = tmp_path / "devnet.pid"
            self.pid = int(
                wait_for(lambda: pidfile.exists() and pidfile.read_text().strip(), 30, "the pid", 0.05)
            )
        self.known: set[int] = set()

    def output(self) -> str:
        return self.out.read_text(errors="replace")

    def processes(self, after: str | None = None) -> set[int]:
        """The devnet's processes once all are started (and ``after`` is in its output)."""

        def started() -> set[int]:
            if after is not None and after not in self.output():
                return set()
            found = descendants(self.pid)
            return found if len(found) >= CHILDREN else set()

        self.known = wait_for(started, 120, f"{CHILDREN} processes of the devnet\n{self.output()}", 0.05)
        return self.known

    def assert_all_gone(self) -> None:
        everyone = self.known | {self.pid}
        try:
            wait_for(lambda: not alive(everyone), GONE_WITHIN_S, "the devnet's processes to end", 0.05)
        except AssertionError:
            raise AssertionError(f"still running: {sorted(alive(everyone))}\n{self.output()}") from None

    def kill(self) -> None:
        for pid in alive(self.known | {self.pid}):
            os.kill(pid, signal.SIGKILL)
        self.process.wait(10)


@pytest.fixture
def run(tmp_path: Path) -> Iterator[Callable[..., Run]]:
    runs: list[Run] = []

    def start(shell: bool = False) -> Run:
        runs.append(Run(tmp_path, shell))
        return runs[-1]

    yield start
    for r in runs:
        r.kill()


RUNNING = "connect to the slot feed"  # the last start-up step: every service is serving


@pytest.mark.parametrize(
    ("signum", "after"),
    [(signal.SIGTERM, RUNNING), (signal.SIGINT, None), (signal.SIGHUP, None)],
    ids=["SIGTERM", "SIGINT", "SIGHUP"],
)
def test_a_stop_signal_stops_every_process(run, signum: int, after: str | None) -> None:  # type: ignore[no-untyped-def]
    devnet = run()
    devnet.processes(after)
    os.kill(devnet.pid, signum)
    assert devnet.process.wait(GONE_WITHIN_S) == 0, devnet.output()
    devnet.assert_all_gone()
    assert f"stopping the devnet ({signal.Signals(signum).name})" in devnet.output()


def test_sigkill_of_the_devnet_takes_its_processes_with_it(run) -> None:  # type: ignore[no-untyped-def]
    devnet = run()
    devnet.processes(RUNNING)
    os.kill(devnet.pid, signal.SIGKILL)
    devnet.process.wait(10)
    devnet.assert_all_gone()


def test_sigterm_stops_a_background_devnet_of_a_non_interactive_shell(run) -> None:  # type: ignore[no-untyped-def]
    devnet = run(shell=True)
    devnet.processes()
    ignored = int(
        next(
            line
            for line in Path(f"/proc/{devnet.pid}/status").read_text().splitlines()
            if line.startswith("SigIgn:")
        ).split()[1],
        16,
    )
    assert ignored & (1 << (signal.SIGINT - 1)), "the shell did not start it with SIGINT ignored"
    os.kill(devnet.pid, signal.SIGTERM)
    assert devnet.process.wait(GONE_WITHIN_S) == 0, devnet.output()  # the shell's wait returns
    devnet.assert_all_gone()


def test_a_process_that_dies_stops_the_devnet_and_every_other_process(run) -> None:  # type: ignore[no-untyped-def]
    devnet = run()
    os.kill(min(devnet.processes()), signal.SIGKILL)
    assert devnet.process.wait(GONE_WITHIN_S) == 1, devnet.output()
    devnet.assert_all_gone()
    assert "devnet failed" in devnet.output() and "exited with code -9" in devnet.output()
