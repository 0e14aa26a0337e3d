"""Hot routes: a few exact ``(method, path)`` endpoints served without the ASGI stack.

A pool service spends most of a slot's busiest milliseconds taking in candidate blocks of
~170 kB each. Through uvicorn and the ASGI layers (proxy headers, the FastAPI application,
the error and body-limit middleware, starlette's request and response objects) a request
costs several times what its own work costs: the body is copied chunk by chunk into a
bytearray, the request task is woken once per chunk and reading is paused at every 64 kB
(measured: ~0.2-0.4 ms of CPU per request for a handler that only reads the body, against
~0.05-0.07 ms when the same body is collected by the HTTP parser's callbacks).

A hot route is declared once, as a :class:`HotRoute` (handler, body limit), and served two
ways with identical results:

- :class:`HotRouteProtocol`, a subclass of uvicorn's httptools protocol that ``run_app``
  installs when the app has hot routes: the parser's callbacks collect the body and the
  handler's answer is written straight to the transport. Everything else on the connection
  (other paths, WebSocket upgrades, pipelined requests in any mix) goes through uvicorn as
  usual, and responses leave in request order.
- :class:`HotRoutesMiddleware`, an ASGI middleware with the same dispatch, for any other
  ASGI server and for tests that run the app in-process (``httpx.ASGITransport``).

A handler takes a :class:`HotRequest` and returns ``(status, content)``; it raises
:class:`~service_shell.web.ApiError` or a chain error for a 4xx, mapped as everywhere else.

The protocol (and the connection limits of :mod:`service_shell.httplimits`) use parts of uvicorn that
are not its public API; they are listed in :data:`PROTOCOL_INTERNALS`. Before a server picks
its protocol, :func:`protocol_supported` looks each one up; when one is missing the server
runs uvicorn's standard httptools protocol (the hot routes then go through
:class:`HotRoutesMiddleware`) and one warning names what is missing.
"""

from __future__ import annotations

import asyncio
import contextlib
import dis
import functools
import importlib
import inspect
import logging
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from service_shell.web import error_content_for, send_json, too_large_body

log = logging.getLogger("bppool.web")


@dataclass(frozen=True, slots=True)
class HotRequest:
    """What a hot handler sees: method, path, headers (lower-case names) and the whole body."""

    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes


HotHandler = Callable[[HotRequest], Awaitable[tuple[int, Any]]]


@dataclass(frozen=True)
class HotRoute:
    """One hot endpoint: its handler, the largest body it takes (413 beyond) and, optionally,
    ``started``: called as soon as a request's headers are in, before its body is read; the
    callable it returns is called once the request is answered or dropped. ``signed``: the
    handler takes only signed requests (:mod:`service_shell.requestauth`), as a route with a signature
    dependency does."""

    handler: HotHandler
    max_body: int
    started: Callable[[], Callable[[], None]] | None = None
    signed: bool = False


HotRoutes = dict[tuple[str, str], HotRoute]


def _headers(raw: list[tuple[bytes, bytes]]) -> dict[str, str]:
    """Lower-case header names to values; the first of repeated headers wins (as starlette's)."""
    out: dict[str, str] = {}
    for name, value in raw:
        key = name.decode("latin-1").lower()
        if key not in out:
            out[key] = value.decode("latin-1")
    return out


async def serve(route: HotRoute, request: HotRequest) -> tuple[int, bytes]:
    """Run ``route``'s handler: the status and JSON body of its answer or of its error."""
    try:
        status, content = await route.handler(request)
    except Exception as exc:
        mapped = error_content_for(exc)
        if mapped is None:
            log.exception("unhandled error in %s %s", request.method, request.path)
            mapped = (
                500,
                {"error": {"code": "internal_error", "message": "internal error; see the server log"}},
            )
        status, content = mapped
    return status, orjson.dumps(content)


@contextlib.contextmanager
def _in_flight(route: HotRoute) -> Iterator[None]:
    """Around one request of ``route``: its ``started`` hook, and the callable it returns."""
    finish = route.started() if route.started is not None else None
    try:
        yield
    finally:
        if finish is not None:
            finish()


async def hot_route_response(request: Request) -> Response:
    """The answer of the app's hot route for ``request`` (what its FastAPI route returns when
    a request reaches it through the app rather than ahead of it)."""
    route: HotRoute = request.app.state.hot_routes[(request.method, request.scope["path"])]
    with _in_flight(route):
        body = await request.body()
        if len(body) > route.max_body:
            status, content = 413, too_large_body(route.max_body)
        else:
            hot = HotRequest(request.method, request.scope["path"], request.headers, body)
            status, content = await serve(route, hot)
    return Response(content, status_code=status, media_type="application/json")


# --- the ASGI way --------------------------------------------------------------------------------


class HotRoutesMiddleware:
    """Serves the hot routes in front of the app (any ASGI server; in-process tests)."""

    def __init__(self, app: ASGIApp, routes: HotRoutes) -> None:
        self.app = app
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = (
            self.routes.get((scope.get("method", ""), scope.get("path", "")))
            if scope["type"] == "http"
            else None
        )
        if route is None:
            await self.app(scope, receive, send)
            return
        with _in_flight(route):
            await self._serve(route, scope, receive, send)

    @staticmethod
    async def _serve(route: HotRoute, scope: Scope, receive: Receive, send: Send) -> None:
        headers = _headers(scope.get("headers", []))
        declared = headers.get("content-length", "")
        if declared.isascii() and declared.isdigit() and int(declared) > route.max_body:
            await send_json(send, 413, too_large_body(route.max_body))
            return
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > route.max_body:
                await send_json(send, 413, too_large_body(route.max_body))
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        request = HotRequest(scope["method"], scope["path"], headers, b"".join(chunks))
        status, body = await serve(route, request)
        await send_json(send, status, body)


# --- the uvicorn way -----------------------------------------------------------------------------


def hot_protocol(routes: HotRoutes) -> type[asyncio.Protocol]:
    """uvicorn's httptools protocol serving ``routes`` itself (pass as ``http=``)."""
    by_bytes = {(method.encode(), path.encode()): route for (method, path), route in routes.items()}
    return type("HotRouteProtocol", (HotRouteProtocol,), {"hot_routes": by_bytes})


# What the hot-route protocol and the connection limits (service_shell.httplimits) use of uvicorn
# beyond its public settings: ``module:Class.name`` (a class attribute, or an instance attribute
# some method of the class assigns) or ``module:Class.method(parameters)`` (the parameters after
# ``self``, exactly). Overridden methods are listed too: the subclasses rely on uvicorn calling them.
_IMPL = "uvicorn.protocols.http.httptools_impl"
PROTOCOL_INTERNALS: tuple[str, ...] = (
    f"{_IMPL}:STATUS_LINE",
    f"{_IMPL}:HttpToolsProtocol.connection_made(transport)",
    f"{_IMPL}:HttpToolsProtocol.connection_lost(exc)",
    f"{_IMPL}:HttpToolsProtocol.data_received(data)",
    f"{_IMPL}:HttpToolsProtocol.send_400_response(msg)",
    f"{_IMPL}:HttpToolsProtocol.on_message_begin()",
    f"{_IMPL}:HttpToolsProtocol.on_url(url)",
    f"{_IMPL}:HttpToolsProtocol.on_header(name, value)",
    f"{_IMPL}:HttpToolsProtocol.on_headers_complete()",
    f"{_IMPL}:HttpToolsProtocol.on_body(body)",
    f"{_IMPL}:HttpToolsProtocol.on_message_complete()",
    f"{_IMPL}:HttpToolsProtocol.on_response_complete()",
    f"{_IMPL}:HttpToolsProtocol._start_asgi_task(cycle, app)",
    f"{_IMPL}:HttpToolsProtocol._unset_keepalive_if_required()",
    f"{_IMPL}:HttpToolsProtocol.parser",
    f"{_IMPL}:HttpToolsProtocol.url",
    f"{_IMPL}:HttpToolsProtocol.headers",
    f"{_IMPL}:HttpToolsProtocol.cycle",
    f"{_IMPL}:HttpToolsProtocol.pipeline",
    f"{_IMPL}:HttpToolsProtocol.flow",
    f"{_IMPL}:HttpToolsProtocol.transport",
    f"{_IMPL}:HttpToolsProtocol.loop",
    f"{_IMPL}:HttpToolsProtocol.connections",
    f"{_IMPL}:HttpToolsProtocol.server_state",
    f"{_IMPL}:HttpToolsProtocol.timeout_keep_alive",
    f"{_IMPL}:RequestResponseCycle.run_asgi(app)",
    f"{_IMPL}:RequestResponseCycle.response_complete",
    f"{_IMPL}:RequestResponseCycle.response_started",
    f"{_IMPL}:RequestResponseCycle.disconnected",
    f"{_IMPL}:RequestResponseCycle.keep_alive",
    f"{_IMPL}:RequestResponseCycle.message_event",
    "uvicorn.protocols.http.flow_control:FlowControl.write_paused",
    "uvicorn.protocols.http.flow_control:FlowControl.drain()",
    "uvicorn.protocols.http.flow_control:FlowControl.pause_reading()",
    "uvicorn.server:ServerState.default_headers",
    "httptools:HttpRequestParser.get_method",
    "httptools:HttpRequestParser.get_http_version",
    "httptools:HttpRequestParser.should_keep_alive",
    "httptools:HttpRequestParser.should_upgrade",
)


def _assigned_attributes(cls: type) -> set[str]:
    """The attribute names the methods defined on ``cls`` assign (``self.name = ...``)."""
    names: set[str] = set()
    for value in vars(cls).values():
        if inspect.isfunction(value):
            names.update(i.argval for i in dis.get_instructions(value) if i.opname == "STORE_ATTR")
    return names


def _present(internal: str) -> bool:
    """Whether one entry of :data:`PROTOCOL_INTERNALS` is there, as written."""
    module_name, _, rest = internal.partition(":")
    path, paren, params = rest.partition("(")
    try:
        owner: Any = importlib.import_module(module_name)
    except ImportError:
        return False
    *owners, name = path.split(".")
    for part in owners:
        owner = getattr(owner, part, None)
        if owner is None:
            return False
    if not paren:
        return hasattr(owner, name) or (isinstance(owner, type) and name in _assigned_attributes(owner))
    method = getattr(owner, name, None)
    if not inspect.isfunction(method):
        return False
    expected = [p.strip() for p in params.rstrip(")").split(",") if p.strip()]
    return [p for p in inspect.signature(method).parameters if p != "self"] == expected


@functools.cache
def missing_protocol_internals() -> tuple[str, ...]:
    """The entries of :data:`PROTOCOL_INTERNALS` the installed libraries lack (none expected)."""
    return tuple(internal for internal in PROTOCOL_INTERNALS if not _present(internal))


_warned: set[tuple[str, ...]] = set()


def protocol_supported() -> bool:
    """Whether the hot-route protocol and the connection limits can run on the installed
    uvicorn; if not, one warning (per process) names what is missing and the fallback."""
    missing = missing_protocol_internals()
    if missing and missing not in _warned:
        _warned.add(missing)
        log.warning(
            "uvicorn lacks what the fast HTTP protocol uses (%s); serving with uvicorn's standard "
            "httptools protocol: hot routes through the ASGI middleware, connection limits reduced to "
            "keep-alive and a concurrency cap (no header-size limit, no request timeout)",
            ", ".join(missing),
        )
    return not missing


def http_protocol_for(app: Any) -> Any:
    """uvicorn's ``http=`` setting for ``app``: the hot-route protocol when the app declares
    hot routes (``app.state.hot_routes``) and :func:`protocol_supported`, httptools otherwise
    (the app's :class:`HotRoutesMiddleware` then serves them)."""
    state = getattr(app, "state", None)
    routes = getattr(state, "hot_routes", None) if state is not None else None
    return hot_protocol(routes) if routes and protocol_supported() else "httptools"


class _Event:
    """What uvicorn calls on a request's cycle when the connection drops (nothing to wake)."""

    def set(self) -> None:
        pass


class HotCall:
    """One hot request on a connection. It stands in uvicorn's place of a request cycle
    (``response_complete``, ``disconnected``, ``keep_alive``, ``message_event``,
    ``run_asgi``), so uvicorn's own pipelining keeps responses in request order."""

    message_event = _Event()

    def __init__(self, route: HotRoute, keep_alive: bool) -> None:
        self.route = route
        self.keep_alive = keep_alive
        self.finish = route.started() if route.started is not None else None
        self.chunks: list[bytes] = []
        self.size = 0
        self.request: HotRequest | None = None  # once the body is complete
        self.too_large = False
        self.received = False  # the whole request is in (a refused body is read and dropped)
        self.scheduled = False  # handed to uvicorn to run (now or after the request before it)
        self.response_complete = False
        self.disconnected = False

    async def run_asgi(self, protocol: HotRouteProtocol) -> None:
        """Serve the request on ``protocol``'s connection (passed where uvicorn passes its
        app: the call keeps no reference to the connection, so nothing cyclic holds the
        body once the answer is out)."""
        try:
            await self._answer(protocol)
        finally:
            self.finished()

    def finished(self) -> None:
        """Tell the route the request is over (once)."""
        finish, self.finish = self.finish, None
        if finish is not None:
            finish()

    async def _answer(self, protocol: HotRouteProtocol) -> None:
        request, self.request = self.request, None
        if request is None:  # refused: the body is over the limit
            status, body = 413, too_large_body(self.route.max_body)
        else:
            status, body = await serve(self.route, request)
            del request
        if self.disconnected:
            return
        if protocol.flow.write_paused:
            await protocol.flow.drain()
        head = [STATUS_LINE[status]]
        for name, value in protocol.server_state.default_headers:
            head += [name, b": ", value, b"\r\n"]
        head.append(b"content-type: application/json\r\ncontent-length: %d\r\n" % len(body))
        if not self.keep_alive:
            head.append(b"connection: close\r\n")
        head += [b"\r\n", body]
        transport = protocol.transport
        transport.write(b"".join(head))
        self.response_complete = True
        if not self.keep_alive and self.received:
            transport.close()
        protocol.on_response_complete()


class HotRouteProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the hot routes served from the parser's callbacks."""

    hot_routes: dict[tuple[bytes, bytes], HotRoute] = {}
    _hot: HotCall | None = None
    _hot_previous: Any = None  # the request before the hot one on this connection

    def on_message_begin(self) -> None:
        self._hot = None
        super().on_message_begin()

    def connection_lost(self, exc: Exception | None) -> None:
        # Hot requests that will never run: one still arriving, and any queued behind another
        call = self._hot
        if call is not None and not call.scheduled:
            self._hot = None
            call.finished()
        for queued, _ in self.pipeline:
            if isinstance(queued, HotCall):
                queued.finished()
        super().connection_lost(exc)

    def on_headers_complete(self) -> None:
        route = self.hot_routes.get((self.parser.get_method(), self.url))
        if route is None or self.parser.should_upgrade():
            super().on_headers_complete()
            return
        keep_alive = self.parser.get_http_version() != "1.0" and self.parser.should_keep_alive()
        call = HotCall(route, keep_alive)
        cycle: Any = call  # uvicorn's code reads the same attributes of either
        self._hot_previous, self.cycle, self._hot = self.cycle, cycle, call
        for name, value in self.headers:
            if name == b"content-length" and value.isdigit() and int(value) > route.max_body:
                self._refuse(call)
                return
            if name == b"expect" and value.lower() == b"100-continue":
                self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_body(self, body: bytes) -> None:
        call = self._hot
        if call is None:
            super().on_body(body)
        elif not call.too_large:
            call.size += len(body)
            if call.size > call.route.max_body:
                self._refuse(call)
            else:
                call.chunks.append(body)

    def on_message_complete(self) -> None:
        call = self._hot
        if call is None:
            super().on_message_complete()
            return
        self._hot = None
        call.received = True
        if call.too_large and call.response_complete and not call.keep_alive:
            self.transport.close()  # refused early; the rest of the body is read: now close
            return
        if not call.too_large:
            method = self.parser.get_method().decode("latin-1")
            body = b"".join(call.chunks)
            call.request = HotRequest(method, self.url.decode("latin-1"), _headers(self.headers), body)
            call.chunks = []
        self._start(call)

    def _refuse(self, call: HotCall) -> None:
        """A body over the limit: answer 413 as soon as it is this request's turn, drop the
        rest of the body as it comes, then close the connection (closing with unread data
        would reset it before the client reads the answer)."""
        call.too_large, call.chunks, call.keep_alive = True, [], False
        self._start(call)

    def _start(self, call: HotCall) -> None:
        if call.scheduled:
            return
        call.scheduled = True
        previous, self._hot_previous = self._hot_previous, None
        cycle: Any = call
        connection: Any = self  # what run_asgi gets in place of the app
        if previous is None or previous.response_complete:
            self._start_asgi_task(cycle, connection)
        else:  # a pipelined request: after the one before it, as uvicorn queues its own
            self.flow.pause_reading()
            self.pipeline.appendleft((cycle, connection))


__all__ = [
    "HotCall",
    "HotHandler",
    "HotRequest",
    "HotRoute",
    "HotRouteProtocol",
    "HotRoutes",
    "HotRoutesMiddleware",
    "PROTOCOL_INTERNALS",
    "hot_protocol",
    "hot_route_response",
    "http_protocol_for",
    "missing_protocol_internals",
    "protocol_supported",
    "serve",
]
