"""The raw keep-alive client against real loopback servers: answers, and nodes that stall."""

from __future__ import annotations

import asyncio
import time

import pytest

from service_shell.rawhttp import RawConnection, RawPool, RawTimeout
from tests.helpers.servers import serve_tcp

pytestmark = pytest.mark.anyio

TIMEOUT = 0.3
# Generous for a loaded machine; a client that never times out exceeds any bound.
MARGIN = 3.0


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    await reader.readexactly(length)
    return head


def answer(writer: asyncio.StreamWriter, status: int, body: bytes) -> None:
    writer.write(b"HTTP/1.1 %d X\r\nContent-Length: %d\r\n\r\n%s" % (status, len(body), body))


async def taken_connection(url: str) -> tuple[RawPool, RawConnection]:
    """A pool of one connection to ``url``, and that connection taken from it."""
    pool = RawPool(url, size=1, timeout=TIMEOUT)
    await pool.fill()
    conn = pool.take()
    assert conn is not None
    return pool, conn


async def answers_at_once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
    while True:
        await read_request(reader)
        answer(writer, 200, b'{"ok":true}')


async def never_answers(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
    """Accepts, reads the request, and says nothing until the client goes away."""
    await read_request(reader)
    await reader.read()


async def test_answers_are_read_and_the_connection_is_kept() -> None:
    async with asyncio.timeout(10), serve_tcp(answers_at_once) as url:
        pool, conn = await taken_connection(url)
        for _ in range(2):
            conn.send("POST", "/v1/node/prepare_block", b"{}", {})
            response = await conn.response()
            assert (response.status, response.body) == (200, b'{"ok":true}')
        pool.give_back(conn)
        assert pool.take() is conn
        conn.close()


async def test_a_node_that_never_answers_times_out_and_the_connection_is_dropped() -> None:
    async with asyncio.timeout(10), serve_tcp(never_answers) as url:
        pool, conn = await taken_connection(url)
        conn.send("POST", "/v1/node/prepare_block", b"{}", {})
        started = time.monotonic()
        with pytest.raises(RawTimeout):
            await conn.response()
        elapsed = time.monotonic() - started
        assert TIMEOUT * 0.9 <= elapsed < TIMEOUT + MARGIN
        assert conn.writer.is_closing() and not conn.busy
        pool.give_back(conn)
        assert pool.take() is None  # closed, so not kept for the next request


async def test_a_late_answer_is_never_read_as_the_next_request_s() -> None:
    """The first connection answers its request only after the timeout (a 500); a request
    after the timeout gets its own answer on a fresh connection, never that late one."""

    async def late_then_prompt(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        if n == 1:
            await read_request(reader)
            await asyncio.sleep(TIMEOUT * 2)
            answer(writer, 500, b'{"late":true}')
            await writer.drain()
        await answers_at_once(reader, writer, n)

    async with asyncio.timeout(10), serve_tcp(late_then_prompt) as url:
        pool, conn = await taken_connection(url)
        conn.send("POST", "/v1/node/prepare_block", b"{}", {})
        with pytest.raises(RawTimeout):
            await conn.response()
        pool.give_back(conn)
        await asyncio.sleep(TIMEOUT * 2)  # the late answer is out by now
        await pool.fill()
        fresh = pool.take()
        assert fresh is not None and fresh is not conn
        fresh.send("POST", "/v1/node/commit_block", b"{}", {})
        assert (await fresh.response()).status == 200
        fresh.close()


async def test_a_connection_whose_read_is_cancelled_is_closed() -> None:
    async with asyncio.timeout(10), serve_tcp(never_answers) as url:
        conn = await RawConnection.open(url, timeout=60)
        conn.send("POST", "/v1/node/prepare_block", b"{}", {})
        reading = asyncio.ensure_future(conn.response())
        await asyncio.sleep(0.05)
        reading.cancel()
        with pytest.raises(asyncio.CancelledError):
            await reading
        assert conn.writer.is_closing()
