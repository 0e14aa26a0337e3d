"""What the command lines share: one way to fail, to run a service or a daemon, to write a key
file, to read an answer, and to sign a request.

``bppool emitter`` and ``bppool dac`` talk to the pool service with requests signed as the
pool protocol signs member requests (``X-BP-*`` headers, :mod:`pool_protocol.requests`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, Protocol

import httpx
import orjson
import typer
from rich.console import Console
from rich.markup import escape

from chain.core.errors import ChainError
from pool_protocol.requests import request_headers
from service_shell.httplimits import HttpLimits
from service_shell.keys import KeyFileError, generate_private_key, read_key_file, write_key_file

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from service_shell.supervisor import Supervisor

err = Console(stderr=True)


def fail(message: str, code: int = 1) -> NoReturn:
    """Print ``error: message`` on stderr and exit with ``code`` (no traceback). The message is
    printed as given: never cut into lines at the terminal's width (a path in it stays one
    piece to copy), and brackets in it are text, not markup."""
    err.print(f"[red]error:[/] {escape(message)}", soft_wrap=True)
    raise typer.Exit(code)


class ServiceSettings(Protocol):
    """What :func:`run_app` reads of a service's settings."""

    host: str
    port: int

    @property
    def http_limits(self) -> HttpLimits: ...


class Service(Protocol):
    """What :func:`run_app` asks of the service its app serves."""

    supervisor: Supervisor

    def quiet_ms(self) -> float: ...


def run_app(app: Any, settings: ServiceSettings, service: Service) -> None:
    """Run a service's ASGI app as this process, on the ``settings``' host and port: one
    uvicorn worker (the service's state and metrics live in this process), uvloop and
    httptools, uvicorn's own logs at warning. The app's hot routes (``app.state.hot_routes``,
    see :mod:`service_shell.hotroutes`) are served by the protocol itself, within the
    ``settings``' connection limits (:mod:`service_shell.httplimits`).

    The process owns the runtime (:mod:`service_shell.runtime`): the allocator is tuned once, and
    garbage collection is paced at the ``service``'s quiet moments (its ``quiet_ms``) while the
    app runs, a failed step counted by the service's supervisor."""
    import uvicorn

    from service_shell.httplimits import server_options
    from service_shell.runtime import pace_app, tune_malloc

    tune_malloc()
    pace_app(app, service.quiet_ms, service.supervisor)
    options = server_options(app, settings.http_limits)
    uvicorn.run(
        app, host=settings.host, port=settings.port, log_level="warning", workers=1, loop="uvloop", **options
    )


class DaemonSettings(Protocol):
    """What :func:`run_daemon` reads of a daemon's settings."""

    metrics_host: str
    metrics_port: int

    @property
    def http_limits(self) -> HttpLimits: ...


class DaemonMetrics(Protocol):
    """A daemon's metrics: their registry."""

    registry: CollectorRegistry


class Daemon(Protocol):
    """What :func:`run_daemon` asks of a daemon (a member's, a runner's)."""

    account: str
    supervisor: Supervisor

    @property
    def metrics(self) -> DaemonMetrics: ...

    def run(self) -> Coroutine[Any, Any, None]: ...

    def stop(self) -> Coroutine[Any, Any, None]: ...


def run_daemon(daemon: Daemon, settings: DaemonSettings) -> None:
    """Run ``daemon`` in this process until it ends or is interrupted (quietly), with its
    ``/metrics``, ``/healthz`` (naming its account) and ``/readyz`` on the ``settings``'
    metrics port (see :func:`service_shell.daemon.run_with_metrics`)."""
    from service_shell.daemon import run_with_metrics

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(
            run_with_metrics(
                daemon.run(),
                registry=daemon.metrics.registry,
                host=settings.metrics_host,
                port=settings.metrics_port,
                health=lambda: {"account": daemon.account},
                stop=daemon.stop,
                limits=settings.http_limits,
                supervisor=daemon.supervisor,
            )
        )


def new_key_file(out: Path, account: str) -> tuple[Path, str]:
    """Write a fresh ed25519 key file for ``account`` at ``out`` (mode 0600, never over an
    existing file): its path and public key; fail with code 2 when it cannot be written."""
    try:
        path = write_key_file(out, account, generate_private_key())
        return path, read_key_file(path).public_key
    except (KeyFileError, ChainError, OSError) as exc:  # an invalid name is the chain's typed error
        fail(str(exc), 2)


def answer(response: httpx.Response) -> Any:
    """The JSON of a successful answer; otherwise fail with the service's code and message."""
    if response.status_code >= 400:
        try:
            error = response.json()["error"]
            message = f"{error['code']}: {error['message']}"
        except (ValueError, KeyError, TypeError):
            message = f"HTTP {response.status_code}: {response.text[:300]}"
        fail(message)
    return response.json()


def get_json(url: str, path: str, *, what: str = "the pool service", **params: Any) -> Any:
    """A public read: ``GET url/path``, failing clearly when unreachable or refused."""
    try:
        return answer(httpx.get(url.rstrip("/") + path, params=params, timeout=15))
    except httpx.HTTPError as exc:
        fail(f"cannot reach {what} at {url}: {exc}")


class PoolSigner:
    """Signs requests to one pool service with a key file (the pool's id from its /info)."""

    def __init__(self, url: str, key_path: Path) -> None:
        try:
            self.keyfile = read_key_file(key_path)
        except KeyFileError as exc:
            fail(str(exc), 2)
        info = get_json(url, "/v1/pool/info")
        self.url, self.pool, self.chain_id = url.rstrip("/"), info["pool"], info["chain_id"]

    @property
    def account(self) -> str:
        return self.keyfile.account

    @staticmethod
    def now() -> int:
        return int(time.time() * 1000)

    def post(self, path: str, body: Any = None) -> Any:
        raw = orjson.dumps(body) if body is not None else b""
        headers = request_headers(
            self.keyfile.key,
            self.account,
            chain_id=self.chain_id,
            pool=self.pool,
            method="POST",
            path=path,
            timestamp=self.now(),
            body=raw,
        )
        try:
            return answer(
                httpx.post(
                    self.url + path,
                    content=raw or None,
                    headers={**headers, "content-type": "application/json"},
                    timeout=15,
                )
            )
        except httpx.HTTPError as exc:
            fail(f"cannot reach the pool service at {self.url}: {exc}")
