"""Connection limits for every HTTP server of the project (node, pool service, daemons' /metrics).

uvicorn's httptools protocol bounds no header size (llhttp has no limit of its own), has no
timeout for a request that arrives slowly or not at all, and only answers 503 to requests
over ``limit_concurrency`` while the sockets stay open. :func:`limited_protocol` adds, to the
protocol a server runs (with or without hot routes, see :mod:`service_shell.hotroutes`):

- **header size**: the request line and headers over ``max_header_bytes`` get
  ``431 headers_too_large`` and the connection is closed;
- **slow request**: a request (headers and body) not in whole ``request_timeout_s`` after
  its first byte — or a new connection that sends nothing that long — gets
  ``408 request_timeout`` and is closed;
- **keep-alive**: an idle connection between requests is closed after ``keep_alive_s``;
- **connection cap**: beyond ``max_connections`` open connections a new one is answered
  ``503 too_many_connections`` and closed at once (long-lived streams count: they are
  connections).

Each refusal writes the answer in the project's error shape with ``connection: close``, stops
reading, shuts the sending side (so the client reads the answer rather than a reset) and
closes the socket once the client has or after ``LINGER_S``. Refusals are logged as a warning
at most once per ``LOG_EVERY_S`` by kind, with their count. (uvicorn adds its own line,
"Invalid HTTP request received.", for a 431: the parser is stopped by an error.)
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import orjson
from pydantic import Field
from pydantic_settings import BaseSettings
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

log = logging.getLogger("bppool.http")

# How long a refused connection may stay open for the client to read the answer.
LINGER_S = 1.0
# Refusals are logged at most once per this many seconds per kind, with how many there were.
LOG_EVERY_S = 10.0
_logged: dict[str, tuple[float, int]] = {}  # code -> (last logged at, refused since)


def _log_refusal(code: str, message: str, now: float) -> None:
    last, count = _logged.get(code, (float("-inf"), 0))
    count += 1
    if now - last >= LOG_EVERY_S:
        log.warning("refused %d connection(s) with %s (last: %s)", count, code, message)
        last, count = now, 0
    _logged[code] = (last, count)


@dataclass(frozen=True)
class HttpLimits:
    """The limits of one HTTP server (see the module)."""

    max_header_bytes: int = 16 * 1024
    request_timeout_s: float = 10.0
    keep_alive_s: float = 5.0
    max_connections: int = 512


class HttpLimitsSettings(BaseSettings):
    """The ``http_*`` settings every service with an HTTP server has (``BPPOOL_<SERVICE>_HTTP_*``)."""

    http_max_header_bytes: int = Field(
        HttpLimits.max_header_bytes,
        ge=1024,
        le=1024 * 1024,
        description="Most bytes of a request's line and headers; more: 431.",
    )
    http_request_timeout_s: float = Field(
        HttpLimits.request_timeout_s,
        gt=0,
        le=3600,
        description="A request (headers and body) must arrive whole within this; else 408 and close.",
    )
    http_keep_alive_s: float = Field(
        HttpLimits.keep_alive_s, gt=0, le=3600, description="Idle connections close after this."
    )
    http_max_connections: int = Field(
        HttpLimits.max_connections,
        ge=1,
        le=1_000_000,
        description="Open connections (streams included); a new one beyond: 503 and close.",
    )

    @property
    def http_limits(self) -> HttpLimits:
        return HttpLimits(
            max_header_bytes=self.http_max_header_bytes,
            request_timeout_s=self.http_request_timeout_s,
            keep_alive_s=self.http_keep_alive_s,
            max_connections=self.http_max_connections,
        )


def error_answer(status: int, code: str, message: str) -> bytes:
    """A whole HTTP/1.1 answer in the project's error shape that closes the connection."""
    body = orjson.dumps({"error": {"code": code, "message": message}})
    return b"".join(
        (
            STATUS_LINE[status],
            b"content-type: application/json\r\ncontent-length: %d\r\nconnection: close\r\n\r\n" % len(body),
            body,
        )
    )


class _Refused(Exception):
    """Stops the parser once a request is refused (the answer is already written)."""


class LimitedProtocol(HttpToolsProtocol):
    """The limits over uvicorn's httptools protocol (combined by :func:`limited_protocol`)."""

    limits = HttpLimits()
    _refused = False
    _request_timer: asyncio.TimerHandle | None = None
    _header_bytes = 0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.timeout_keep_alive = self.limits.keep_alive_s  # type: ignore[assignment]

    # --- connections --------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        if len(self.connections) >= self.limits.max_connections:
            self.transport = transport
            self._refuse_connection(
                503, "too_many_connections", f"the server holds {self.limits.max_connections} connections"
            )
            return
        super().connection_made(transport)
        self._arm_request_timer()  # a new connection must send a request in time

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_request_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return  # answered: what follows is dropped
        super().data_received(data)

    def send_400_response(self, msg: str) -> None:
        if not self._refused:  # a refusal already answered (its exception stopped the parser)
            super().send_400_response(msg)

    # --- requests -----------------------------------------------------------------------------

    def on_message_begin(self) -> None:
        self._header_bytes = 0
        self._arm_request_timer()
        super().on_message_begin()

    def on_url(self, url: bytes) -> None:
        self._count_header_bytes(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count_header_bytes(len(name) + len(value) + 4)
        super().on_header(name, value)

    def on_message_complete(self) -> None:
        self._disarm_request_timer()
        super().on_message_complete()

    def _count_header_bytes(self, size: int) -> None:
        self._header_bytes += size
        if self._header_bytes > self.limits.max_header_bytes:
            self._refuse_connection(
                431,
                "headers_too_large",
                f"the request line and headers exceed {self.limits.max_header_bytes} bytes",
            )
            raise _Refused

    def _arm_request_timer(self) -> None:
        if self._request_timer is None:
            self._request_timer = self.loop.call_later(self.limits.request_timeout_s, self._request_timed_out)

    def _disarm_request_timer(self) -> None:
        if self._request_timer is not None:
            self._request_timer.cancel()
            self._request_timer = None

    def _request_timed_out(self) -> None:
        self._request_timer = None
        if self.transport.is_closing():
            return
        cycle = self.cycle  # the request arriving, or the one before it (answered)
        if cycle is not None and not cycle.response_complete:
            if getattr(cycle, "response_started", False):
                self.transport.close()  # answering already: nothing else can be said
                return
            cycle.disconnected = True  # the application stops waiting for the body
            cycle.message_event.set()
        self._refuse_connection(
            408, "request_timeout", f"the request did not arrive within {self.limits.request_timeout_s:g} s"
        )

    def _refuse_connection(self, status: int, code: str, message: str) -> None:
        """Answer ``status`` and close: stop reading, send the answer and our end of the
        stream, and close once the client has (or after ``LINGER_S``)."""
        self._refused = True
        _log_refusal(code, message, self.loop.time())
        self._disarm_request_timer()
        self._unset_keepalive_if_required()
        transport = self.transport
        transport.write(error_answer(status, code, message))
        if transport.can_write_eof():
            transport.write_eof()
        self.loop.call_later(LINGER_S, transport.close)


def limited_protocol(base: type[HttpToolsProtocol], limits: HttpLimits) -> type[LimitedProtocol]:
    """``base`` (uvicorn's httptools protocol or a subclass) with ``limits``: pass as ``http=``."""
    return type(f"Limited{base.__name__}", (LimitedProtocol, base), {"limits": limits})


def server_options(app: Any, limits: HttpLimits) -> dict[str, Any]:
    """uvicorn's options for serving ``app`` as every service does: its hot routes (if any)
    served by the protocol, and ``limits``. When the installed uvicorn lacks what the
    protocols use (:func:`service_shell.hotroutes.protocol_supported`, which warns), uvicorn's
    standard httptools protocol with what its settings can hold of ``limits``: the keep-alive
    and, as ``limit_concurrency``, the connection cap (answered 503 per request)."""
    from service_shell.hotroutes import http_protocol_for, protocol_supported

    if not protocol_supported():
        return {
            "http": "httptools",
            "timeout_keep_alive": limits.keep_alive_s,
            "limit_concurrency": limits.max_connections,
        }
    base = http_protocol_for(app)
    if isinstance(base, str):
        base = HttpToolsProtocol
    return {"http": limited_protocol(base, limits)}


__all__ = [
    "HttpLimits",
    "HttpLimitsSettings",
    "LimitedProtocol",
    "error_answer",
    "limited_protocol",
    "server_options",
]
