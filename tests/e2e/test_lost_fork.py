"""A pool block that loses a fork, with real processes: the pool goes on filling its slots.

A devnet (node, pool service, three members) whose node produces for ``soloa`` only: the
blocks of ``solob``, whose window comes right before the pool's, are the test's to make.
It builds three of them during solob's window and withholds them; once the node has taken
the pool's block for the first slot of its window, it pushes them: solob's branch is longer,
the node switches to it, and the pool's block is no longer on the canonical chain (the chain
counts that slot as missed by the pool) and older blocks become irreversible in the same
switch (fork choice's finalization during a reorg). The pool service's replica must follow the
node onto that branch, and the pool must fill the rest of its window on it, with no background
task failing anywhere and the service ready.
"""

from __future__ import annotations

import asyncio
import io
import re
import time
from pathlib import Path

import httpx
import pytest
from rich.console import Console

from bppool.devnet import Devnet
from chain.client.http import NodeClient
from chain.core import Block, Store, build_block, create_genesis_state
from chain.core.schedule import get_scheduled_producer
from tests.helpers.devnet import metric_samples
from tests.helpers.procs import wait_for

pytestmark = pytest.mark.e2e

WINDOW = 12  # a producer's consecutive slots per round
WITHHELD = 3  # solob's blocks pushed late: longer than the pool's branch even with two of its blocks


def scrape(url: str, name: str) -> dict[str, float]:
    """``{labels: value}`` of every sample of ``name`` on the ``/metrics`` page at ``url``."""
    return metric_samples(httpx.get(url, timeout=5).text, name)


def replica(node: NodeClient, genesis) -> Store:  # type: ignore[no-untyped-def]
    """The node's canonical chain replayed into a fresh store."""
    store = Store(create_genesis_state(genesis))
    height = 1
    while True:
        batch = node.blocks(height, 500)
        for data in batch:
            store.on_block(Block.from_dict(data))
        if len(batch) < 500:
            return store
        height += len(batch)


def canonical(node: NodeClient, from_height: int) -> list[dict]:
    return [b["header"] for b in node.blocks(from_height, 500)]


def test_the_pool_fills_its_slots_after_its_block_loses_a_fork(tmp_path: Path) -> None:
    devnet = Devnet(
        members=3, data_dir=tmp_path / "devnet", tx_rate=5, dac=False, console=Console(file=io.StringIO())
    )
    devnet.prepare()
    node_toml = devnet.root / "node.toml"
    soloa_only = f'key_files = ["{devnet.root / "keys" / "soloa.json"}"]'
    node_toml.write_text(re.sub(r"^key_files = .*$", soloa_only, node_toml.read_text(), flags=re.M))
    node = NodeClient(devnet.node_url, timeout=5)

    def current_slot() -> int:
        return (int(time.time() * 1000) - genesis.genesis_time) // slot_ms

    async def start() -> None:
        await devnet.start()

    try:
        asyncio.run(start())
        genesis, slot_ms = devnet.genesis, devnet.genesis.params.slot_ms  # written by the start
        schedule = node.get_producer_schedule()["active"]["producers"]
        assert [p["producer_name"] for p in schedule] == ["pool", "soloa", "solob"]

        # Members fill pool slots.
        wait_for(
            lambda: sum(h["producer"] == "pool" and h["builder"] != "pool" for h in canonical(node, 1)) >= 3,
            60,
            "three pool blocks built by members",
        )

        # The first slot of a pool window whose preceding solob window is still ahead.
        state = replica(node, genesis).state
        first = current_slot() + WINDOW + 2
        while not (
            get_scheduled_producer(state, first) == "pool"
            and get_scheduled_producer(state, first - 1) == "solob"
        ):
            first += 1
        # solob's window has begun (soloa's is over): build solob's blocks on the node's head.
        wait_for(lambda: current_slot() >= first - WINDOW + 1, 30, "solob's window")
        store = replica(node, genesis)
        base_height = store.state.height
        assert store.state.slot < first - WINDOW
        solob = devnet.keys["solob"].key
        withheld = []
        for slot in range(first - WITHHELD - 1, first - 1):
            built = build_block(store.state, slot=slot, producer="solob", keep=True)
            block = built.block.signed_by_producer(solob)
            store.adopt(block, built.undo or [])
            withheld.append(block)

        # The pool's block for its first slot reaches the node, at the next height ...
        def pool_block_on_node() -> dict | None:
            headers = canonical(node, base_height + 1)
            return headers[0] if headers and headers[0]["slot"] == first else None

        lost = wait_for(pool_block_on_node, 30, f"the pool's block for slot {first}", interval=0.01)
        assert lost["producer"] == "pool"
        # ... then solob's withheld blocks: a longer branch from the same parent. Built on by
        # all three producers at last, older blocks become irreversible in the same switch.
        lib_before = node.get_info()["last_irreversible_block_num"]
        for block in withheld:
            node.push_block(block)
        assert node.get_info()["last_irreversible_block_num"] > lib_before
        head = canonical(node, base_height + 1)
        assert [h["producer"] for h in head[:WITHHELD]] == ["solob"] * WITHHELD
        assert all(h["slot"] != first for h in head)  # the pool's block lost the fork

        # The pool fills the rest of its window on solob's branch.
        wait_for(lambda: current_slot() > first + WINDOW, 30, "the end of the pool's window")
        after = canonical(node, base_height + WITHHELD + 1)
        filled = sorted(
            h["slot"] for h in after if h["producer"] == "pool" and first < h["slot"] < first + WINDOW
        )
        assert len(filled) >= WINDOW - 4, f"pool slots filled after the fork: {filled}"
        assert any(h["builder"] != "pool" for h in after if h["producer"] == "pool"), "no member-built block"

        # No background task failed anywhere; the pool service is ready.
        for proc in devnet.procs.values():
            failures = scrape(proc.metrics_url, "bppool_task_failures_total")
            assert failures and sum(failures.values()) == 0, (proc.name, failures)
        wait_for(lambda: httpx.get(devnet.emitter_url + "/readyz", timeout=5).status_code == 200, 10, "ready")
        assert scrape(devnet.procs["emitter"].metrics_url, "bppool_emitter_following") == {"": 1.0}

        # What the chain says about the pool: the lost slot is a missed one, as the node counts it.
        def chain_missed() -> tuple[float, float] | None:
            ours = scrape(devnet.procs["emitter"].metrics_url, "bppool_emitter_chain_missed_slots")[""]
            nodes = scrape(devnet.procs["node"].metrics_url, "bppool_chain_missed_slots_total")
            theirs = nodes['{producer="pool"}']
            return (ours, theirs) if ours == theirs else None

        ours, _ = wait_for(chain_missed, 10, "the pool's missed slots as the node counts them")
        assert ours >= 1
    finally:
        node.close()
        devnet.stop_all()
