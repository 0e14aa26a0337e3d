"""The devnet's child processes: start them, watch them, wait for them, stop them.

Each process runs through :mod:`bppool.devnet_child`, which ties its life to the devnet's and
loads its code before the genesis exists; its output goes to ``logs/NAME.log``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from bppool.devnet_child import child_command


@dataclass
class Proc:
    """One process of the devnet: its ``bppool`` command and where it answers."""

    name: str
    args: list[str]
    url: str
    metrics_url: str
    docs_url: str | None
    preload: tuple[str, ...] = ()
    process: subprocess.Popen[bytes] | None = None
    stopped: bool = False

    @classmethod
    def serving(cls, name: str, args: list[str], url: str, preload: tuple[str, ...], *, docs: bool) -> Proc:
        """A process answering at ``url``, with its ``/metrics`` (and ``/docs`` if ``docs``)."""
        return cls(name, args, url, f"{url}/metrics", f"{url}/docs" if docs else None, preload)


def loaded_marker(root: Path, proc: Proc) -> Path:
    """The file ``proc`` creates once it has imported its code."""
    return root / "run" / f"{proc.name}.loaded"


def start_process(proc: Proc, root: Path, genesis_path: Path) -> None:
    """Start ``proc`` through :mod:`bppool.devnet_child`: it dies with the devnet, however
    the devnet ends, and waits for the genesis once loaded."""
    log = open(root / "logs" / f"{proc.name}.log", "ab")  # noqa: SIM115 - owned by the child
    proc.process = subprocess.Popen(
        child_command(
            parent=os.getpid(),
            preload=proc.preload,
            loaded=loaded_marker(root, proc),
            genesis=genesis_path,
            args=proc.args,
        ),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # Ctrl-C reaches the devnet, which stops the children in order
    )
    log.close()


def stop_processes(procs: Iterable[Proc], timeout: float = 10.0) -> None:
    """SIGTERM to each process group, SIGKILL to those still running after ``timeout``."""
    running = []
    for proc in procs:
        proc.stopped = True
        if proc.process is not None and proc.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.process.pid, signal.SIGTERM)
            running.append(proc.process)
    deadline = time.monotonic() + timeout
    for process in running:
        try:
            process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)


def exit_report(procs: Iterable[Proc], logs: Path) -> str | None:
    """What to say about the first process that exited without being stopped (its code and
    the end of its log); None while every process not stopped runs."""
    for proc in procs:
        if proc.process is not None and not proc.stopped and proc.process.poll() is not None:
            tail = (logs / f"{proc.name}.log").read_text(errors="replace")[-2000:]
            return f"{proc.name} exited with code {proc.process.returncode}:\n{tail}"
    return None


async def wait_ready(url: str, what: str, check: Callable[[], None], timeout: float = 60) -> None:
    """Until ``url``'s ``/readyz`` answers 200 (``check`` raises if a process died)."""
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=2) as http:
        while time.monotonic() < deadline:
            check()
            with contextlib.suppress(httpx.HTTPError):
                if (await http.get(f"{url}/readyz")).status_code == 200:
                    return
            await asyncio.sleep(0.2)
    raise RuntimeError(f"{what} did not become ready in {timeout:.0f} s")


async def wait_loaded(
    procs: Iterable[Proc], root: Path, check: Callable[[], None], timeout: float = 600
) -> None:
    """Until every process has imported its code and waits for the genesis."""
    markers = [loaded_marker(root, p) for p in procs]
    deadline = time.monotonic() + timeout
    while not all(marker.exists() for marker in markers):
        check()
        if time.monotonic() > deadline:
            raise RuntimeError(f"the processes did not load in {timeout:.0f} s")
        await asyncio.sleep(0.05)


def is_connected(metrics: str) -> bool:
    """Whether a member's ``/metrics`` text says it is subscribed to the slot feed."""
    for family in text_string_to_metric_families(metrics):
        if family.name == "bppool_producer_connected":
            return any(sample.value == 1 for sample in family.samples)
    return False


async def wait_connected(members: Iterable[Proc], check: Callable[[], None], timeout: float = 60) -> None:
    """Until every member is subscribed to the pool's slot feed (its own gauge says so)."""
    pending = {proc.name: proc for proc in members}
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=2) as http:
        while pending:
            check()
            if time.monotonic() > deadline:
                raise RuntimeError(f"members not on the slot feed: {', '.join(sorted(pending))}")
            for name in sorted(pending):
                with contextlib.suppress(httpx.HTTPError):
                    text = (await http.get(pending[name].metrics_url)).text
                    if is_connected(text):
                        del pending[name]
            await asyncio.sleep(0.1)
