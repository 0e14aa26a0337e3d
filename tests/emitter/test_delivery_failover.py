"""Delivery when the followed node stalls: every read is bounded and the other nodes get the block."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from emitter import crud
from tests.emitter.conftest import eventually, pool_network, start_node, start_pool
from tests.helpers.chain import GENESIS_TIME
from tests.helpers.node import FakeClock
from tests.helpers.servers import serve_tcp

pytestmark = pytest.mark.anyio

DELIVERY_PATHS = (b"/v1/node/prepare_block", b"/v1/node/commit_block", b"/v1/node/push_block")
PUSH_TIMEOUT_S = 0.5
# Room for a loaded machine; without a bound on the reads the block never arrives at all.
MARGIN_S = 4.0


@asynccontextmanager
async def stalling_node(target_url: str) -> AsyncIterator[tuple[str, list[bytes]]]:
    """A TCP server on 127.0.0.1 in front of a real node: a connection whose first request is
    a block delivery (prepare, commit, push) is accepted, read and never answered; any other
    connection (the follower's reads) is relayed to the node. Yields its URL and the request
    lines it held unanswered."""
    target = urlsplit(target_url)
    held: list[bytes] = []

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def stall_or_relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        method, path = head.split(b" ", 2)[:2]
        if method == b"POST" and path in DELIVERY_PATHS:
            held.append(head.split(b"\r\n", 1)[0])
            await reader.read()  # never answers; waits for the client to give up
            return
        up_reader, up_writer = await asyncio.open_connection(target.hostname, target.port)
        try:
            up_writer.write(head)
            await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        finally:
            up_writer.close()

    async with serve_tcp(stall_or_relay) as url:
        yield url, held


async def behind_a_stalling_node(
    stack: AsyncExitStack, tmp_path: Path, database_url: str, **pool: Any
) -> tuple[Any, Any, str, str, list[bytes]]:
    """A pool whose first node URL accepts, reads and never answers; its second is a real node."""
    clock = FakeClock(GENESIS_TIME + 100)
    network = pool_network(tmp_path)
    node, node_url = await start_node(stack, tmp_path, clock, network)
    stall_url, held = await stack.enter_async_context(stalling_node(node_url))
    h = await start_pool(
        stack,
        tmp_path,
        database_url,
        network=network,
        clock=clock,
        node=node,
        node_url=stall_url,
        more_node_urls=[node_url],
        push_timeout_s=PUSH_TIMEOUT_S,
        **pool,
    )
    return h, node, node_url, stall_url, held


async def test_a_block_reaches_the_second_node_when_the_first_never_answers(
    tmp_path: Path, database_url: str
) -> None:
    async with asyncio.timeout(60), AsyncExitStack() as stack:
        h, node, node_url, stall_url, held = await behind_a_stalling_node(stack, tmp_path, database_url)
        assert [p.base_url for p in h.emitter.pushers] == [stall_url, node_url]
        await h.open_slot(1)
        started = time.monotonic()
        assert (await h.members["alice"].submit_candidate(h.candidate("alice")))["selected"]
        await eventually(
            lambda: node.state.slot >= 1, timeout=PUSH_TIMEOUT_S + MARGIN_S, what="the second node"
        )
        elapsed = time.monotonic() - started
        # the prepare went to the stalled node first, on a raw connection, and got no answer
        assert any(b"/v1/node/prepare_block" in line for line in held)
        assert node.head_block is not None and node.head_block.header.builder == "alice"
        await h.close_slot(1)
        outcome = crud.slot_outcomes(h.emitter.engine, limit=1)[0]
        assert outcome["slot"] == 1 and outcome["verdict"] == "emitted"
        emission = crud.get_emission(h.emitter.engine, slot=1)
        assert emission is not None and emission["accepted_by"] == node_url
        registry = h.emitter.metrics.registry
        assert registry.get_sample_value("bppool_emitter_block_deliveries_total", {"method": "push"}) == 1
        assert elapsed < PUSH_TIMEOUT_S + MARGIN_S


async def test_a_fallback_block_reaches_the_second_node_when_the_first_never_answers_its_push(
    tmp_path: Path, database_url: str
) -> None:
    """No prepare, no commit: the fallback's block goes straight to a full push, and the first
    node accepts the connection, reads the push and never answers it."""
    async with asyncio.timeout(60), AsyncExitStack() as stack:
        h, node, node_url, stall_url, held = await behind_a_stalling_node(
            stack, tmp_path, database_url, fallback="empty"
        )
        await h.open_slot(1)
        started = time.monotonic()
        await h.close_slot(1)  # nothing delivered: the fallback emits at the cutoff
        await eventually(
            lambda: node.state.slot >= 1, timeout=PUSH_TIMEOUT_S + MARGIN_S, what="the second node"
        )
        elapsed = time.monotonic() - started
        # the push went to the stalled node first and got no answer
        assert [line for line in held if b"/v1/node/push_block" in line]
        assert node.head_block is not None and node.head_block.header.slot == 1
        emission = crud.get_emission(h.emitter.engine, slot=1)
        assert emission is not None and emission["source"] == "fallback_empty"
        await eventually(
            lambda: (crud.get_emission(h.emitter.engine, slot=1) or {}).get("accepted_by") == node_url,
            what="the accepting node to be recorded",
        )
        registry = h.emitter.metrics.registry
        assert registry.get_sample_value("bppool_emitter_block_deliveries_total", {"method": "push"}) == 1
        assert registry.get_sample_value("bppool_emitter_push_failures_total", {"node": stall_url}) == 1
        assert elapsed < PUSH_TIMEOUT_S + MARGIN_S
