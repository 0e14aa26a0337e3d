"""The connection limits on uvicorn's protocol, with and without hot routes (small limits, fast)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import orjson
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from service_shell.hotroutes import HotRequest, HotRoute
from service_shell.httplimits import HttpLimits, LimitedProtocol, server_options
from tests.helpers.servers import free_port

pytestmark = pytest.mark.anyio

LIMITS = HttpLimits(max_header_bytes=2048, request_timeout_s=0.5, keep_alive_s=0.3, max_connections=3)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def echo(request: Request) -> JSONResponse:
    return JSONResponse({"body": len(await request.body())})


async def hot(request: HotRequest) -> tuple[int, dict[str, int]]:
    return 200, {"hot": len(request.body)}


def make_app(with_hot_route: bool) -> Starlette:
    app = Starlette(routes=[Route("/echo", echo, methods=["GET", "POST"])])
    if with_hot_route:
        app.state.hot_routes = {("POST", "/hot"): HotRoute(hot, 1024)}
    return app


@asynccontextmanager
async def serving(app: Any) -> AsyncIterator[tuple[str, int]]:
    port = free_port()
    options = server_options(app, LIMITS)
    assert issubclass(options["http"], LimitedProtocol)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error", **options))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    try:
        yield "127.0.0.1", port
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


async def exchange(address: tuple[str, int], data: bytes, timeout: float = 5) -> bytes:
    """Send ``data``, return all the server sends until it closes."""
    reader, writer = await asyncio.open_connection(*address)
    writer.write(data)
    chunks = []
    try:
        async with asyncio.timeout(timeout):
            while chunk := await reader.read(65536):
                chunks.append(chunk)
    finally:
        writer.close()
    return b"".join(chunks)


def status_and_code(answer: bytes) -> tuple[int, str]:
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), orjson.loads(body)["error"]["code"]


@pytest.mark.parametrize("with_hot_route", [False, True])
async def test_limits(with_hot_route: bool) -> None:
    async with serving(make_app(with_hot_route)) as address:
        base = f"http://{address[0]}:{address[1]}"
        async with httpx.AsyncClient(base_url=base) as client:
            # Within the limits: served, on the normal and the hot path
            assert (await client.post("/echo", content=b"x" * 100, headers={"x-a": "b" * 1500})).json() == {
                "body": 100
            }
            if with_hot_route:
                assert (await client.post("/hot", content=b"y" * 10)).json() == {"hot": 10}
                # the hot routes' own refusal still works under the limits
                assert (await client.post("/hot", content=b"y" * 2000)).status_code == 413
        # Headers over the limit (the request line counts): 431, whichever the route
        for path in (b"/echo", b"/hot"):
            answer = await exchange(
                address, b"POST " + path + b" HTTP/1.1\r\nx-a: " + b"b" * 3000 + b"\r\n\r\n"
            )
            assert status_and_code(answer) == (431, "headers_too_large")
        answer = await exchange(address, b"GET /echo?" + b"q" * 3000 + b" HTTP/1.1\r\n\r\n")
        assert status_and_code(answer) == (431, "headers_too_large")
        # A body that does not come, and a connection that sends nothing: 408 after the timeout
        loop = asyncio.get_running_loop()
        started = loop.time()
        answer = await exchange(address, b"POST /echo HTTP/1.1\r\ncontent-length: 10\r\n\r\nabc")
        assert status_and_code(answer) == (408, "request_timeout")
        assert LIMITS.request_timeout_s - 0.05 <= loop.time() - started < 3
        assert status_and_code(await exchange(address, b"")) == (408, "request_timeout")
        # The cap: three connections open, the fourth is refused at once
        held = [await asyncio.open_connection(*address) for _ in range(3)]
        started = loop.time()
        assert status_and_code(await exchange(address, b"GET /echo HTTP/1.1\r\n\r\n")) == (
            503,
            "too_many_connections",
        )
        assert loop.time() - started < LIMITS.request_timeout_s
        for _, writer in held:
            writer.close()
        # Keep-alive: an answered connection is closed after the idle time
        await asyncio.sleep(0.1)
        reader, writer = await asyncio.open_connection(*address)
        writer.write(b"GET /echo HTTP/1.1\r\nhost: x\r\n\r\n")
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200")
        await reader.readexactly(int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0]))
        answered = loop.time()
        assert await asyncio.wait_for(reader.read(), 3) == b""
        assert LIMITS.keep_alive_s - 0.05 <= loop.time() - answered < LIMITS.request_timeout_s
        writer.close()
