"""Hot routes: served by uvicorn's protocol and by the ASGI middleware, with the same answers."""

from __future__ import annotations

import asyncio
import dis
import inspect
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import orjson
import pytest
import uvicorn
from fastapi import FastAPI, Request
from starlette.responses import Response

from chain.core.errors import NonceMismatch
from service_shell import hotroutes
from service_shell.hotroutes import (
    PROTOCOL_INTERNALS,
    HotCall,
    HotRequest,
    HotRoute,
    HotRouteProtocol,
    HotRoutesMiddleware,
    hot_route_response,
    http_protocol_for,
    missing_protocol_internals,
)
from service_shell.httplimits import HttpLimits, LimitedProtocol, server_options
from service_shell.web import ApiError, install_error_handlers
from tests.helpers.servers import free_port, serve_app

pytestmark = pytest.mark.anyio

LIMIT = 1000


async def echo(request: HotRequest) -> tuple[int, Any]:
    """Answers what it saw; a few bodies ask for errors or a delay."""
    if request.body == b"api-error":
        raise ApiError(409, "conflict", "the body asked for a conflict", slot=7)
    if request.body == b"chain-error":
        raise NonceMismatch("nonce 5 but the next nonce is 3")
    if request.body == b"crash":
        raise RuntimeError("a bug")
    if request.body.startswith(b"slow"):
        await asyncio.sleep(0.2)
    return 201, {
        "method": request.method,
        "path": request.path,
        "member": request.headers.get("x-bp-member"),
        "size": len(request.body),
        "head": request.body[:8].decode("latin-1"),
    }


def make_app(*, ahead: bool = True) -> FastAPI:
    """The test app; ``ahead=False`` leaves the middleware out, so the FastAPI route answers."""
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/plain")
    async def plain() -> dict[str, str]:
        return {"route": "plain"}

    @app.post("/plain")
    async def plain_post() -> dict[str, str]:
        return {"route": "plain"}

    @app.post("/hot")
    async def hot(request: Request) -> Response:
        return await hot_route_response(request)

    app.state.hot_routes = {("POST", "/hot"): HotRoute(echo, LIMIT, started=count_started)}
    if ahead:
        app.add_middleware(HotRoutesMiddleware, routes=app.state.hot_routes)
    return app


IN_FLIGHT = [0]


def count_started() -> Callable[[], None]:
    """The ``started`` hook of the test route: counts requests in flight."""
    IN_FLIGHT[0] += 1

    def finished() -> None:
        IN_FLIGHT[0] -= 1

    return finished


@asynccontextmanager
async def client_for(way: str) -> AsyncIterator[httpx.AsyncClient]:
    app = make_app()
    if way == "protocol":
        async with serve_app(app) as url, httpx.AsyncClient(base_url=url) as client:
            yield client
    elif way == "route":
        transport = httpx.ASGITransport(app=make_app(ahead=False))
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
            yield client
    else:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
            yield client


WAYS = ["protocol", "middleware", "route"]


def test_the_services_serve_hot_routes_by_the_protocol() -> None:
    protocol = http_protocol_for(make_app())
    assert isinstance(protocol, type) and issubclass(protocol, HotRouteProtocol)
    assert protocol.hot_routes.keys() == {(b"POST", b"/hot")}
    assert http_protocol_for(FastAPI()) == "httptools"


def _uvicorn_names() -> set[str]:
    """Every attribute name uvicorn's protocol, request cycle, flow control and server state have."""
    from uvicorn.protocols.http.flow_control import FlowControl
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle
    from uvicorn.server import ServerState

    names: set[str] = set()
    for cls in (HttpToolsProtocol, RequestResponseCycle, FlowControl, ServerState):
        names |= set(vars(cls)) | hotroutes._assigned_attributes(cls)
    return {name for name in names if not name.startswith("__")}


def test_the_installed_uvicorn_has_every_internal_the_fast_paths_use() -> None:
    assert f"{hotroutes._IMPL}:HttpToolsProtocol._start_asgi_task(cycle, app)" in PROTOCOL_INTERNALS
    assert missing_protocol_internals() == ()
    # The check does look: a changed signature, a method or an attribute gone are seen
    assert not hotroutes._present(f"{hotroutes._IMPL}:HttpToolsProtocol._start_asgi_task(cycle)")
    assert not hotroutes._present(f"{hotroutes._IMPL}:HttpToolsProtocol.gone()")
    assert not hotroutes._present(f"{hotroutes._IMPL}:RequestResponseCycle.gone")
    # Every uvicorn name the protocol classes read, write or call is on the list
    listed = {internal.split(":")[1].split("(")[0].split(".")[-1] for internal in PROTOCOL_INTERNALS}
    used: set[str] = set()
    for cls in (HotRouteProtocol, HotCall, LimitedProtocol):
        for function in vars(cls).values():
            if inspect.isfunction(function):
                used |= {
                    i.argval
                    for i in dis.get_instructions(function)
                    if i.opname in {"LOAD_ATTR", "LOAD_METHOD", "STORE_ATTR"}
                }
    assert (used & _uvicorn_names()) - listed == set()


def test_the_installed_libraries_are_within_the_ranges_the_fast_paths_were_tested_with() -> None:
    import tomllib
    from importlib.metadata import version
    from pathlib import Path

    from packaging.requirements import Requirement

    pyproject = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    ranges = {r.name: r.specifier for r in map(Requirement, pyproject["project"]["dependencies"])}
    for name in ("uvicorn", "httptools", "fastapi"):
        assert version(name) in ranges[name], (name, version(name), str(ranges[name]))
        assert any(s.operator == "<" for s in ranges[name]), f"{name} has no upper bound"


async def test_without_the_internals_the_services_fall_back_to_the_standard_protocol(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    gone = f"{hotroutes._IMPL}:HttpToolsProtocol._start_asgi_task(cycle, app)"
    monkeypatch.setattr(hotroutes, "missing_protocol_internals", lambda: (gone,))
    monkeypatch.setattr(hotroutes, "_warned", set())
    app = make_app()
    limits = HttpLimits(keep_alive_s=0.5, max_connections=7)
    with caplog.at_level(logging.WARNING, logger="bppool.web"):
        assert http_protocol_for(app) == "httptools"
        options = server_options(app, limits)
    assert options == {"http": "httptools", "timeout_keep_alive": 0.5, "limit_concurrency": 7}
    warnings = [r.getMessage() for r in caplog.records if r.name == "bppool.web"]
    assert len(warnings) == 1 and gone in warnings[0] and "standard httptools protocol" in warnings[0]

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", **options))
    task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(10):
            while not server.started:
                if task.done():
                    task.result()
                await asyncio.sleep(0.01)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            hot = await client.post("/hot", content=b"x" * 500, headers={"X-BP-Member": "alice"})
            assert hot.status_code == 201 and hot.json()["size"] == 500
            too_large = await client.post("/hot", content=b"x" * (LIMIT + 1))
            assert too_large.status_code == 413
            plain = await client.get("/plain")
            assert plain.status_code == 200 and plain.json() == {"route": "plain"}
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


@pytest.mark.parametrize("way", WAYS)
async def test_a_hot_route_answers_with_its_handler(way: str) -> None:
    async with client_for(way) as client:
        response = await client.post("/hot", content=b"x" * 500, headers={"X-BP-Member": "alice"})
        assert response.status_code == 201
        assert response.headers["content-type"] == "application/json"
        assert response.json() == {
            "method": "POST",
            "path": "/hot",
            "member": "alice",
            "size": 500,
            "head": "xxxxxxxx",
        }
        # Several requests on one keep-alive connection, and other routes in between
        for size in (0, 1, LIMIT):
            assert (await client.post("/hot", content=b"y" * size)).json()["size"] == size
            assert (await client.get("/plain")).json() == {"route": "plain"}
        # A query string or another method is not the hot route's business
        assert (await client.post("/hot?x=1", content=b"abc")).json()["size"] == 3
        assert (await client.get("/hot")).status_code == 405  # the app has only POST /hot
        assert IN_FLIGHT == [0]  # every request's ``started`` hook was closed


@pytest.mark.parametrize("way", WAYS)
async def test_errors_have_the_project_shape(way: str) -> None:
    async with client_for(way) as client:
        response = await client.post("/hot", content=b"api-error")
        assert response.status_code == 409
        assert response.json() == {
            "error": {"code": "conflict", "message": "the body asked for a conflict", "slot": 7}
        }
        response = await client.post("/hot", content=b"chain-error")
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "nonce_mismatch"
        response = await client.post("/hot", content=b"crash")
        assert response.status_code == 500
        assert response.json()["error"]["code"] == "internal_error"
        # The connection (or app) still serves
        assert (await client.post("/hot", content=b"ok")).status_code == 201


@pytest.mark.parametrize("way", WAYS)
async def test_a_body_over_the_limit_is_refused(way: str) -> None:
    async with client_for(way) as client:
        response = await client.post("/hot", content=b"z" * (LIMIT + 1))
        assert response.status_code == 413
        assert response.json()["error"]["code"] == "body_too_large"

        async def chunks() -> AsyncIterator[bytes]:  # no content-length: counted as it comes
            for _ in range(5):
                yield b"z" * 400

        response = await client.post("/hot", content=chunks())
        assert response.status_code == 413
        assert response.json()["error"]["code"] == "body_too_large"

        async def small() -> AsyncIterator[bytes]:
            yield b"ab"
            yield b"cd"

        assert (await client.post("/hot", content=small())).json()["size"] == 4


async def raw_exchange(url: str, data: bytes, responses: int) -> list[tuple[int, dict[str, str], bytes]]:
    """Send ``data`` on one connection; read ``responses`` answers (status, headers, body)."""
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(data)
    out = []
    try:
        for _ in range(responses):
            status_line = await asyncio.wait_for(reader.readline(), 5)
            status = int(status_line.split()[1])
            headers = {}
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode().partition(":")
                headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            out.append((status, headers, body))
    finally:
        writer.close()
    return out


def request(path: str, body: bytes, *extra: str, version: str = "1.1") -> bytes:
    head = [f"POST {path} HTTP/{version}", "Host: test", f"Content-Length: {len(body)}", *extra]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


async def test_pipelined_requests_are_answered_in_order() -> None:
    async with serve_app(make_app()) as url:
        data = (
            request("/hot", b"slow-1")
            + request("/plain", b"")
            + request("/hot", b"second")
            + request("/hot", b"slow-2")
            + request("/hot", b"third")
        )
        answers = await raw_exchange(url, data, 5)
    bodies = [orjson.loads(body) for _, _, body in answers]
    assert [b.get("head", b.get("route")) for b in bodies] == ["slow-1", "plain", "second", "slow-2", "third"]
    assert [status for status, _, _ in answers] == [201, 200, 201, 201, 201]


async def test_expect_continue_and_connection_close() -> None:
    async with serve_app(make_app()) as url:
        host, port = url.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        head = "POST /hot HTTP/1.1\r\nHost: test\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"
        writer.write(head.encode())
        assert (await asyncio.wait_for(reader.readline(), 5)).startswith(b"HTTP/1.1 100")
        await reader.readline()
        writer.write(b"hello")
        assert (await reader.readline()).startswith(b"HTTP/1.1 201")
        writer.close()
        # HTTP/1.0 and "Connection: close" end the connection after the answer
        for data in (request("/hot", b"a", version="1.0"), request("/hot", b"b", "Connection: close")):
            [(status, headers, _)] = await raw_exchange(url, data, 1)
            assert status == 201 and headers["connection"] == "close"


async def test_a_declared_body_over_the_limit_is_refused_before_it_is_sent() -> None:
    async with serve_app(make_app()) as url:
        host, port = url.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(f"POST /hot HTTP/1.1\r\nHost: test\r\nContent-Length: {10 * LIMIT}\r\n\r\n".encode())
        assert (await asyncio.wait_for(reader.readline(), 5)).startswith(b"HTTP/1.1 413")
        writer.write(b"z" * (10 * LIMIT))  # dropped as it comes; then the server closes
        rest = await asyncio.wait_for(reader.read(), 5)
        assert b"body_too_large" in rest and b"connection: close" in rest.lower()
        writer.close()


async def test_nothing_cyclic_keeps_a_request_body_alive() -> None:
    """Bodies are freed by reference counting once answered (the services collect cycles only
    at quiet moments: a cycle through a connection would hold every body until then)."""
    import gc

    from service_shell.hotroutes import HotCall

    def live_bodies() -> int:
        return sum(1 for o in gc.get_objects() if isinstance(o, HotCall) and o.request is not None)

    gc.collect()
    gc.disable()
    try:
        async with serve_app(make_app()) as url:
            for _ in range(3):
                async with httpx.AsyncClient(base_url=url) as client:
                    assert (await client.post("/hot", content=b"b" * LIMIT)).status_code == 201
            await asyncio.sleep(0.05)
            assert live_bodies() == 0
            calls = [o for o in gc.get_objects() if isinstance(o, HotCall)]
            assert len(calls) <= 1  # at most the last one of an open connection, without its body
    finally:
        gc.enable()
