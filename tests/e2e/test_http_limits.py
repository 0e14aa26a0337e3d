"""Connection limits of the real servers (the pool service and the chain node as processes):
idle and slow sockets are closed, oversized headers refused, the connection cap holds, and a
member still gets through while 200 idle connections are open."""

from __future__ import annotations

import asyncio
import io
import time
from pathlib import Path
from urllib.parse import urlsplit

import orjson
import pytest
from rich.console import Console

from bppool.devnet import Devnet
from producer_client import Client
from tests.helpers.devnet import stopped_at_the_end

pytestmark = pytest.mark.e2e

IDLE = 200
MAX_CONNECTIONS = 250
REQUEST_TIMEOUT_S = 5.0
KEEP_ALIVE_S = 1.0
SLACK_S = 3.0  # a loaded machine answers late, never early
LIMITS = (
    f"http_max_connections = {MAX_CONNECTIONS}\nhttp_request_timeout_s = {REQUEST_TIMEOUT_S}\n"
    f"http_keep_alive_s = {KEEP_ALIVE_S}\n"
)

Conn = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def connect(url: str) -> Conn:
    parts = urlsplit(url)
    return await asyncio.open_connection(parts.hostname, parts.port)


def close(conn: Conn) -> None:
    conn[1].close()


async def read_until_closed(conn: Conn, timeout: float) -> bytes:
    """Everything the server sends until it closes the connection."""
    reader = conn[0]
    chunks = []
    async with asyncio.timeout(timeout):
        while chunk := await reader.read(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def error_code(answer: bytes) -> str:
    """The status and the error code of a whole HTTP answer in the project's error shape."""
    head, _, body = answer.partition(b"\r\n\r\n")
    status = head.split(b" ", 2)[1].decode()
    assert b"connection: close" in head.lower(), head
    return f"{status} {orjson.loads(body)['error']['code']}"


async def idle_connections_do_not_keep_a_member_out(devnet: Devnet) -> None:
    url = devnet.emitter_url
    opened = time.monotonic()
    idle = [await connect(url) for _ in range(IDLE)]
    member = devnet.member_names[0]
    client = Client(url, account=member, key=devnet.keys[member].key)
    try:
        started = time.monotonic()
        assert (await client.info())["pool"] == "pool"
        assert (await client.apply("https://example.org"))["status"] == "applied"
        assert time.monotonic() - started < 1.0, "a member's requests were slow with 200 idle connections"

        # The cap: beyond MAX_CONNECTIONS open connections (ours, the client's), new ones get 503.
        extra = [await connect(url) for _ in range(MAX_CONNECTIONS - IDLE + 10)]
        answers = await asyncio.gather(*(read_until_closed(c, 1.5) for c in extra), return_exceptions=True)
        refused = [a for a in answers if isinstance(a, bytes)]
        assert 10 <= len(refused) <= 11, answers  # the client holds 0 or 1 connection
        assert {error_code(a) for a in refused} == {"503 too_many_connections"}
        for c in extra:
            close(c)
        assert time.monotonic() - opened < REQUEST_TIMEOUT_S, "too slow to test the cap"

        # The idle ones are closed once the request timeout passes, with a 408.
        answers = await asyncio.gather(*(read_until_closed(c, REQUEST_TIMEOUT_S + SLACK_S) for c in idle))
        closed_after = time.monotonic() - opened
        assert REQUEST_TIMEOUT_S - 0.1 <= closed_after <= REQUEST_TIMEOUT_S + SLACK_S, closed_after
        assert {error_code(a) for a in answers} == {"408 request_timeout"}
        for c in idle:
            close(c)
    finally:
        await client.aclose()


async def keep_alive_and_slow_requests_time_out(devnet: Devnet) -> None:
    url = devnet.emitter_url
    # Keep-alive: an answered connection left idle is closed (no answer) after KEEP_ALIVE_S.
    conn = await connect(url)
    conn[1].write(b"GET /healthz HTTP/1.1\r\nhost: pool\r\n\r\n")
    head = await conn[0].readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head
    length = int(
        next(h.split(b":")[1] for h in head.split(b"\r\n") if h.lower().startswith(b"content-length"))
    )
    await conn[0].readexactly(length)
    answered = time.monotonic()
    assert await read_until_closed(conn, KEEP_ALIVE_S + SLACK_S) == b""
    assert KEEP_ALIVE_S - 0.1 <= time.monotonic() - answered <= KEEP_ALIVE_S + SLACK_S
    close(conn)

    # Slow request: a header line every 0.5 s does not keep it open past the request timeout.
    conn = await connect(url)
    started = time.monotonic()
    conn[1].write(b"GET /healthz HTTP/1.1\r\n")

    async def trickle() -> None:
        while True:
            await asyncio.sleep(0.5)
            conn[1].write(b"x-slow: 1\r\n")

    feeding = asyncio.create_task(trickle())
    try:
        answer = await read_until_closed(conn, REQUEST_TIMEOUT_S + SLACK_S)
    finally:
        feeding.cancel()
    assert error_code(answer) == "408 request_timeout"
    assert REQUEST_TIMEOUT_S - 0.1 <= time.monotonic() - started <= REQUEST_TIMEOUT_S + SLACK_S
    close(conn)


async def oversized_headers_are_refused(url: str) -> None:
    # 64 KiB of headers (the limit is 16 KiB): 431, then the connection closes.
    conn = await connect(url)
    conn[1].write(b"GET /healthz HTTP/1.1\r\nhost: x\r\nx-big: " + b"a" * 65536 + b"\r\n\r\n")
    assert error_code(await read_until_closed(conn, 5)) == "431 headers_too_large"
    close(conn)
    # 8 MiB of headers, sent as fast as the server takes them: refused, never served.
    conn = await connect(url)
    conn[1].write(b"GET /healthz HTTP/1.1\r\nhost: x\r\nx-big: " + b"a" * (8 << 20) + b"\r\n\r\n")
    try:
        answer = await read_until_closed(conn, 10)
    except ConnectionResetError:
        answer = b""  # closed while we were still sending: refused too
    assert answer == b"" or error_code(answer) == "431 headers_too_large", answer[:200]
    close(conn)


async def scenario(devnet: Devnet) -> None:
    for name in ("node", "emitter"):
        devnet.start_process(devnet.procs[name])
    # The processes wait for the genesis file once loaded (bppool.devnet_child).
    devnet.write_genesis(-(-(time.time_ns() // 1_000_000 + 2_000) // 1000) * 1000)
    await devnet.wait_ready(devnet.node_url, "the chain node")
    await devnet.wait_ready(devnet.emitter_url, "the pool service")
    await oversized_headers_are_refused(devnet.node_url)
    await oversized_headers_are_refused(devnet.emitter_url)
    await idle_connections_do_not_keep_a_member_out(devnet)
    await keep_alive_and_slow_requests_time_out(devnet)


def test_connection_limits_of_the_real_servers(tmp_path: Path) -> None:
    devnet = Devnet(members=1, data_dir=tmp_path / "devnet", dac=False, console=Console(file=io.StringIO()))
    devnet.prepare()
    config = devnet.root / "emitter.toml"
    config.write_text(LIMITS + config.read_text())  # top-level keys before the [extensions] table
    with stopped_at_the_end(devnet, "emitter", "node", tail=3000):
        asyncio.run(scenario(devnet))
