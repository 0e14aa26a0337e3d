"""Real processes for end-to-end tests: started on loopback, always stopped by the test."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import httpx

from chain.client.http import NodeError

BPPOOL = [sys.executable, "-m", "bppool"]


def free_port_block(count: int, start: int = 20_000, end: int = 60_000) -> int:
    """The first of ``count`` consecutive loopback ports that are all free now."""
    port = start + (os.getpid() * 37) % (end - start - count)
    while True:
        sockets = []
        try:
            for i in range(count):
                s = socket.socket()
                sockets.append(s)  # closed below even when the bind fails
                s.bind(("127.0.0.1", port + i))
            return port
        except OSError:
            port += count + 1
        finally:
            for s in sockets:
                s.close()


def init_chain(directory: Path, base_port: int, **options: object) -> None:
    """``bppool chain init`` of a local network in ``directory`` whose nodes listen from
    ``base_port`` on; each option given as ``--name value`` (``start_delay=6``: ``--start-delay 6``)."""
    args = [*BPPOOL, "chain", "init", "--dir", str(directory), "--base-port", str(base_port)]
    for name, value in options.items():
        args += [f"--{name.replace('_', '-')}", str(value)]
    subprocess.run(args, check=True, capture_output=True)


class Processes:
    """Every process a test starts; :meth:`stop_all` ends them (SIGTERM, then SIGKILL)."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(
        self, name: str, args: Sequence[str], env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(
            [*BPPOOL, *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            start_new_session=True,
        )
        log.close()
        self.procs[name] = proc
        return proc

    def stop(self, name: str, timeout: float = 10) -> None:
        proc = self.procs.pop(name)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)

    def stop_all(self) -> None:
        for name in list(self.procs):
            self.stop(name)

    def log(self, name: str) -> str:
        path = self.log_dir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""


def parent_pid(pid: int) -> int | None:
    """The parent pid of a live process, None when it is gone (or a zombie)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    state, ppid = stat.rsplit(")", 1)[1].split()[:2]
    return None if state in ("Z", "X") else int(ppid)


def is_alive(pid: int) -> bool:
    """Whether ``pid`` is a live process (not gone, not a zombie)."""
    return parent_pid(pid) is not None


def wait_for(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.25) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail with ``what`` on timeout."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except (httpx.HTTPError, NodeError, KeyError, ValueError) as exc:
            last_error = exc
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what} (last error: {last_error})")


def get_json(url: str, path: str, **params: Any) -> Any:
    response = httpx.get(url + path, params=params, timeout=3)
    response.raise_for_status()
    return response.json()


def post_json(url: str, path: str, body: Any) -> Any:
    response = httpx.post(url + path, json=body, timeout=5)
    response.raise_for_status()
    return response.json()


def is_ready(url: str) -> bool:
    """True when the service at ``url`` answers 200 on ``/readyz``."""
    try:
        return httpx.get(f"{url}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def write_node_and_pool_configs(
    directory: Path, genesis_path: Path, pool_key_path: Path, *, database_url: str, pool_extra: str = ""
) -> tuple[str, str]:
    """``node.toml`` and ``emitter.toml`` in ``directory`` for a node and a pool service (DAC off)
    on two free consecutive loopback ports; returns their URLs."""
    port = free_port_block(2)
    node_url, emitter_url = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{port + 1}"
    (directory / "node.toml").write_text(
        f'genesis = "{genesis_path}"\ndata_dir = "{directory / "node"}"\nport = {port}\n'
    )
    (directory / "emitter.toml").write_text(
        f'genesis = "{genesis_path}"\npool_key_file = "{pool_key_path}"\n'
        f'node_urls = ["{node_url}"]\ndata_dir = "{directory / "emitter"}"\nport = {port + 1}\n'
        f'database_url = "{database_url}"\n{pool_extra}\n[extensions.dac]\nenabled = false\n'
    )
    return node_url, emitter_url
