"""A real chain node and a real emitter on loopback, sharing a clock the test moves."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from chain.core import Block, Transaction, build_block
from chain.core.containers import encode_block
from chain.node.api import create_app as create_node_app
from chain.node.config import NodeSettings
from chain.node.node import Node
from emitter import crud, groupstore
from emitter.claims import signing_digest
from emitter.config import EmitterSettings
from emitter.main import create_app as create_emitter_app
from emitter.service import Emitter
from producer_client import Client
from tests.helpers.chain import GENESIS_TIME, key_for
from tests.helpers.node import FakeClock, Network, make_network
from tests.helpers.servers import serve_app

MEMBERS = ("alice", "bob", "carol")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def eventually(predicate, timeout: float = 5.0, what: str = "condition") -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


@dataclass
class PoolHarness:
    clock: FakeClock
    network: Network
    node: Node
    node_url: str
    emitter: Emitter
    emitter_url: str
    database_url: str
    members: dict[str, Client] = field(default_factory=dict)
    admin: Client | None = None
    app: object = None

    @property
    def cutoff(self) -> int:
        return self.emitter.settings.cutoff_ms

    async def open_slot(self, slot: int, offset_ms: int = 0) -> None:
        self.clock.at_slot(slot, offset_ms)
        await eventually(
            lambda: self.emitter.run is not None and self.emitter.run.slot == slot,
            what=f"slot {slot} to open",
        )

    async def close_slot(self, slot: int) -> None:
        self.clock.at_slot(slot, self.cutoff + 1)
        await eventually(lambda: self.emitter.last_closed_slot >= slot, what=f"slot {slot} to close")

    async def node_has_slot(self, slot: int) -> None:
        await eventually(lambda: self.node.state.slot >= slot, what=f"the node to accept slot {slot}")

    def candidate(self, member: str, txs: Sequence[Transaction] = (), slot: int | None = None) -> Block:
        run = self.emitter.run
        slot = slot if slot is not None else (run.slot if run else self.emitter.follower.state.slot + 1)
        built = build_block(
            self.emitter.follower.state, slot=slot, producer="pool", builder=member, transactions=txs
        )
        return built.block.signed_by_builder(key_for(member))


async def start_node(
    stack: AsyncExitStack, tmp_path: Path, clock: FakeClock, network: Network
) -> tuple[Node, str]:
    """A follower node (no producer key) served on loopback, stopped by ``stack``."""
    node = Node(
        NodeSettings(genesis=network.genesis_path, key_file=None, data_dir=tmp_path / "node", produce=False),
        clock=clock,
    )
    await node.start()
    stack.push_async_callback(node.stop)
    url = await stack.enter_async_context(serve_app(create_node_app(node)))
    return node, url


def pool_network(tmp_path: Path) -> Network:
    return make_network(tmp_path / "net", producers=("pool",), accounts=(*MEMBERS, "dave"))


async def start_pool(
    stack: AsyncExitStack,
    tmp_path: Path,
    database_url: str,
    *,
    network: Network | None = None,
    clock: FakeClock | None = None,
    node: Node | None = None,
    node_url: str | None = None,
    more_node_urls: Sequence[str] = (),
    admit: bool = True,
    dac: dict | None = None,
    node_stack: AsyncExitStack | None = None,
    **emitter_settings: object,
) -> PoolHarness:
    """A pool service (members applied, and admitted unless the DAC admits) served on
    loopback and stopped by ``stack``; on a node of its own unless ``node`` is given, kept
    by ``node_stack`` if given (then closing ``stack`` stops the pool alone, as a crash would,
    and :func:`restart_pool` starts it again on the same node)."""
    clock = clock or FakeClock(GENESIS_TIME + 100)
    network = network or pool_network(tmp_path)
    if node is None:
        node, node_url = await start_node(node_stack or stack, tmp_path, clock, network)
    settings = EmitterSettings(
        genesis=network.genesis_path,
        pool_key_file=network.key_path("pool"),
        node_urls=[node_url, *more_node_urls],
        database_url=database_url,
        extensions={"dac": dac} if dac is not None else {},
        **emitter_settings,  # type: ignore[arg-type]
    )
    emitter = Emitter(settings, clock=clock)
    app = create_emitter_app(emitter, start=False, extensions=dac is not None)
    await emitter.start()
    stack.push_async_callback(emitter.stop)
    emitter_url = await stack.enter_async_context(serve_app(app))
    # Where the group's other instances reach it (the port is known only now; the lease row
    # gets it at the next round).
    emitter.group.url = emitter_url
    await eventually(lambda: emitter.ready, what="the emitter to follow the node")
    h = PoolHarness(clock, network, node, node_url or "", emitter, emitter_url, database_url)
    h.admin = Client(emitter_url, account="pool", key=key_for("pool"), clock=clock)
    stack.push_async_callback(h.admin.aclose)
    for name in (*MEMBERS, "dave"):
        client = Client(emitter_url, account=name, key=key_for(name), clock=clock)
        stack.push_async_callback(client.aclose)
        h.members[name] = client
    if admit:
        for name in MEMBERS:
            await h.members[name].apply(f"https://{name}.example")
            if dac is None:
                await h.admin.admin_member(name, "admit")
    h.app = app
    return h


async def restart_pool(
    stack: AsyncExitStack, tmp_path: Path, h: PoolHarness, **settings: object
) -> PoolHarness:
    """The pool service started again on ``h``'s database, node, network and clock, as after
    a restart (its members are admitted already); ``h``'s own service must be stopped."""
    return await start_pool(
        stack,
        tmp_path,
        h.database_url,
        network=h.network,
        clock=h.clock,
        node=h.node,
        node_url=h.node_url,
        admit=False,
        **settings,  # type: ignore[arg-type]
    )


def record_elsewhere(h: PoolHarness, slot: int, member: str) -> Block:
    """Claim and record a pool-signed block of ``member``'s for the open ``slot`` as an emitter
    that died right after recording it (or a second emitter on the same database) would have."""
    block = h.candidate(member).signed_by_producer(key_for("pool"))
    outcome, _ = groupstore.claim(
        h.emitter.engine,
        groupstore.ClaimRequest(
            producer="pool",
            slot=slot,
            digest=signing_digest(block),
            block_id=block.id,
            source="member",
            builder=member,
            instance="elsewhere",
            epoch=0,
            fenced=False,
            alive_within_ms=None,
        ),
    )
    assert outcome == groupstore.WON, outcome
    crud.record_emission(
        h.emitter.engine,
        emission={
            "slot": slot,
            "block_id": block.id,
            "height": block.height,
            "builder": member,
            "source": "member",
            "emitted_ms": h.clock.now_ms(),
            "fees": 0,
            "data": encode_block(block),
            "accepted_by": None,
        },
        events=[],
    )
    return block


@pytest.fixture
async def pool(tmp_path: Path, database_url: str) -> AsyncIterator[PoolHarness]:
    """A pool on SQLite and, in a second run, on PostgreSQL."""
    async with AsyncExitStack() as stack:
        yield await start_pool(stack, tmp_path, database_url)
