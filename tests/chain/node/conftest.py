"""Fixtures: a real node app (SQLite in a temp dir) driven through httpx's ASGI transport."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from chain.node.api import create_app
from chain.node.config import NodeSettings
from chain.node.node import Node
from tests.helpers.node import FakeClock, Network, make_network


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass
class NodeHarness:
    node: Node
    client: httpx.AsyncClient
    clock: FakeClock
    network: Network

    async def produce(self, slot: int) -> None:
        self.clock.at_slot(slot)
        block = await self.node.produce(slot)
        assert block is not None, f"node did not produce slot {slot}"


def node_settings(network: Network, data_dir: Path, **overrides: object) -> NodeSettings:
    values: dict[str, object] = {
        "genesis": network.genesis_path,
        "key_file": network.key_path("alpha"),
        "data_dir": data_dir,
        "produce": False,
        "max_transaction_bytes": 16 * 1024,
    }
    values.update(overrides)
    return NodeSettings(**values)  # type: ignore[arg-type]


async def start_harness(network: Network, data_dir: Path, **overrides: object) -> NodeHarness:
    clock = FakeClock()
    node = Node(node_settings(network, data_dir, **overrides), clock=clock)
    await node.start()
    app = create_app(node)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://node")
    return NodeHarness(node, client, clock, network)


@asynccontextmanager
async def running_harness(
    network: Network, data_dir: Path, **overrides: object
) -> AsyncIterator[NodeHarness]:
    """:func:`start_harness`, with the client closed and the node stopped on the way out."""
    h = await start_harness(network, data_dir, **overrides)
    try:
        yield h
    finally:
        await h.client.aclose()
        await h.node.stop()


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[NodeHarness]:
    async with running_harness(make_network(tmp_path / "net"), tmp_path / "node") as h:
        yield h
