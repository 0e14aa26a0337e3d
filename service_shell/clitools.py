"""What the command lines share: one way to fail, to read an answer, and to sign a request.

``bppool emitter`` and ``bppool dac`` talk to the pool service with requests signed as the
pool protocol signs member requests (``X-BP-*`` headers, :mod:`pool_protocol.requests`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import httpx
import orjson
import typer
from rich.console import Console

from pool_protocol.requests import request_headers
from service_shell.httplimits import HttpLimits
from service_shell.keys import KeyFileError, read_key_file

if TYPE_CHECKING:
    from service_shell.supervisor import Supervisor

err = Console(stderr=True)


def fail(message: str, code: int = 1) -> NoReturn:
    """Print ``error: message`` on stderr and exit with ``code`` (no traceback)."""
    err.print(f"[red]error:[/] {message}")
    raise typer.Exit(code)


def run_app(
    app: Any,
    host: str,
    port: int,
    limits: HttpLimits,
    *,
    quiet_ms: Callable[[], float],
    supervisor: Supervisor,
) -> None:
    """Run a service's ASGI app as this process: one uvicorn worker (the service's state and
    metrics live in this process), uvloop and httptools, uvicorn's own logs at warning. The
    app's hot routes (``app.state.hot_routes``, see :mod:`service_shell.hotroutes`) are served by the
    protocol itself, within the connection ``limits`` (:mod:`service_shell.httplimits`).

    The process owns the runtime (:mod:`service_shell.runtime`): the allocator is tuned once, and
    garbage collection is paced at the service's quiet moments (``quiet_ms``) while the app
    runs, a failed step counted by the service's ``supervisor``."""
    import uvicorn

    from service_shell.httplimits import server_options
    from service_shell.runtime import pace_app, tune_malloc

    tune_malloc()
    pace_app(app, quiet_ms, supervisor)
    options = server_options(app, limits)
    uvicorn.run(app, host=host, port=port, log_level="warning", workers=1, loop="uvloop", **options)


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
