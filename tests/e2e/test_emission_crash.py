"""The pool service killed at each step of the emission path, on SQLite and PostgreSQL.

A real node (the pool is the chain's only producer, so every slot is a pool slot), the real
pool service and a real member daemon. The service is started with ``BPPOOL_FAULT`` naming one
step (see :mod:`emitter.faults`), SIGKILLs itself there, and is started again with the next
step, and so on; the node and the member run throughout. Checked:

* nothing is signed before the slot's claim is committed, and nothing of a block leaves the
  process before its record is: killed right after claiming, signing or recording, the node
  has no block for that slot (claimed and killed before signing, the slot stays empty);
* a recorded emission no node took is pushed after the restart (the chain can take it: the
  pool is the only producer, so nothing else fills the slot);
* every pool-signed block the node got is the recorded emission of its slot, and every
  recorded emission reached the node (one block per slot, never a second signature).

By default SQLite runs every step and PostgreSQL the steps around the record, once each;
``BPPOOL_CRASH_STEPS=all`` runs every step on both, and ``BPPOOL_CRASH_ROUNDS=<n>`` runs the
sequence ``n`` times.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sqlite3
import subprocess
import time
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from chain.core import ChainParams
from producer_client import Client
from service_shell.db import make_engine
from tests.helpers.chain import key_for
from tests.helpers.node import make_network
from tests.helpers.procs import Processes, is_ready, wait_for, write_node_and_pool_configs

pytestmark = pytest.mark.e2e

ROUNDS = int(os.environ.get("BPPOOL_CRASH_ROUNDS", "1"))
# (fault point, whether the member delivers): member steps first, then the fallback's.
STEPS = (
    ("emit.after_record", True),
    ("recovery.after_push", True),  # the restart pushes the block recorded above, then dies
    ("emit.after_commit_sent", True),
    ("deliver.after_accept", True),
    ("emit.after_sign", True),
    ("emit.after_claim", True),
    ("fallback.after_record", False),
    ("fallback.after_sign", False),
    ("fallback.after_claim", False),
)
# Each start of the service costs seconds: by default every step on SQLite and the steps
# around the record on PostgreSQL (every step on both with BPPOOL_CRASH_STEPS=all).
DEFAULT_STEPS = {
    "sqlite": {step for step, _ in STEPS},
    "postgres": {"emit.after_record", "emit.after_commit_sent", "fallback.after_record"},
}
ALL_STEPS = os.environ.get("BPPOOL_CRASH_STEPS") == "all"
# Killed here, the node must not have the slot's block: nothing of it left the process.
NOTHING_SENT = {
    "emit.after_claim",
    "emit.after_sign",
    "emit.after_record",
    "fallback.after_claim",
    "fallback.after_sign",
    "fallback.after_record",
}
KILLED = re.compile(r"fault injection: killing the process at (\S+) \(slot (\d+)\)")


def pool_blocks_on_node(node_db: Path) -> dict[int, set[str]]:
    """Every pool-signed block the node stored (canonical or not), by slot."""
    conn = sqlite3.connect(f"file:{node_db}?mode=ro", uri=True, timeout=10)
    try:
        rows = conn.execute("SELECT slot, id FROM node_block WHERE producer = 'pool'").fetchall()
    finally:
        conn.close()
    found: dict[int, set[str]] = {}
    for slot, block_id in rows:
        found.setdefault(slot, set()).add(block_id)
    return found


def query(database_url: str, sql: str) -> list[tuple[Any, ...]]:
    """The rows of ``sql`` in the pool's database (a connection of the test's own)."""
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(sql)).all()]
    finally:
        engine.dispose()


def recorded_emissions(database_url: str) -> dict[int, str]:
    return dict(query(database_url, "SELECT slot, block_id FROM pool_emission"))


async def admit(emitter_url: str, member: str) -> None:
    async with (
        Client(emitter_url, account=member, key=key_for(member)) as applicant,
        Client(emitter_url, account="pool", key=key_for("pool")) as admin,
    ):
        await applicant.apply(f"https://{member}.example")
        await admin.admin_member(member, "admit")


def ended(proc: subprocess.Popen[bytes], point: str, emitter_url: str) -> bool:
    """Whether the service has exited."""
    if proc.poll() is None and point == "recovery.after_push" and is_ready(emitter_url):
        # The recorded block is pushed again before the service reports ready.
        proc.kill()
        raise AssertionError("the restarted service is ready without pushing the recorded emission")
    return proc.poll() is not None


@pytest.fixture(params=["sqlite", "postgres"])
def crash_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'pool.db'}"
    return str(request.getfixturevalue("postgres_url"))


def test_a_pool_block_on_chain_is_always_the_recorded_emission_of_its_slot(
    tmp_path: Path, procs: Processes, crash_database_url: str
) -> None:
    now = int(time.time() * 1000)
    network = make_network(
        tmp_path / "net",
        producers=("pool",),
        accounts=("alice",),
        # Restarts miss slots: the pool (the only producer) must not be jailed for them.
        params=ChainParams(min_signed_bps=0),
        genesis_time=now - now % 1000,
    )
    node_url, emitter_url = write_node_and_pool_configs(
        tmp_path,
        network.genesis_path,
        network.key_path("pool"),
        database_url=crash_database_url,
        pool_extra='fallback = "local"\n',
    )
    (tmp_path / "alice.toml").write_text(
        f'key_file = "{network.key_path("alice")}"\ngenesis = "{network.genesis_path}"\n'
        f'emitter_url = "{emitter_url}"\nnode_url = "{node_url}"\n'
    )
    node_db = tmp_path / "node" / "chain.db"
    procs.start("node", ["chain", "node", "--config", str(tmp_path / "node.toml")])
    wait_for(lambda: is_ready(node_url), 30, "the node")

    def start_pool(fault: str | None) -> subprocess.Popen[bytes]:
        env = {"BPPOOL_FAULT": fault} if fault else {}
        return procs.start("pool", ["emitter", "serve", "--config", str(tmp_path / "emitter.toml")], env)

    kind = "sqlite" if crash_database_url.startswith("sqlite") else "postgres"
    steps = [s for s in STEPS if ALL_STEPS or s[0] in DEFAULT_STEPS[kind]] * ROUNDS
    assert steps[0] == ("emit.after_record", True)
    # The first start admits the member; its first delivery selected is the first step.
    first = start_pool(steps[0][0])
    wait_for(lambda: is_ready(emitter_url) or first.poll() is not None, 60, "the pool service")
    asyncio.run(admit(emitter_url, "alice"))
    member_running = False
    for i, (point, member) in enumerate(steps):
        if member and not member_running:
            procs.start("alice", ["producer", "run", "--config", str(tmp_path / "alice.toml")])
            member_running = True
        elif not member and member_running:
            procs.stop("alice")
            member_running = False
        proc = first if i == 0 else start_pool(point)
        wait_for(partial(ended, proc, point, emitter_url), 60, f"a kill at {point}")
        procs.procs.pop("pool")
        assert proc.returncode == -signal.SIGKILL, (
            f"the service exited with {proc.returncode}, not at {point}"
        )
        found = KILLED.findall(procs.log("pool"))
        assert found and found[-1][0] == point, found[-3:]
        slot = int(found[-1][1])
        on_node = pool_blocks_on_node(node_db)
        recorded = recorded_emissions(crash_database_url)
        if point in NOTHING_SENT:
            assert slot not in on_node, f"killed at {point}: the node got slot {slot}'s block"
        if point.endswith("after_record"):
            # Durable before anything was sent; the restart pushes it.
            assert slot in recorded, f"killed at {point}: slot {slot} has no record"
        if point.endswith(("after_sign", "after_claim")):
            assert slot not in recorded
        for s, ids in on_node.items():
            assert ids == {recorded.get(s)}, (
                f"slot {s}: the node holds {ids}, the record says {recorded.get(s)}"
            )
        # Every block the node holds was claimed first, for that very block.
        claimed = claimed_blocks(crash_database_url)
        for s, ids in on_node.items():
            assert ids == {claimed.get(s)}, f"slot {s}: the node holds {ids}, the claim is {claimed.get(s)}"
    if member_running:
        procs.stop("alice")

    # One more start without a fault: everything recorded reaches the node.
    start_pool(None)
    wait_for(lambda: is_ready(emitter_url), 60, "the pool service")

    def all_delivered() -> bool:
        return set(recorded_emissions(crash_database_url)) <= set(pool_blocks_on_node(node_db))

    wait_for(all_delivered, 30, "every recorded emission to reach the node")
    procs.stop("pool")
    recorded = recorded_emissions(crash_database_url)
    on_node = pool_blocks_on_node(node_db)
    for s, ids in on_node.items():
        assert ids == {recorded.get(s)}, f"slot {s}: the node holds {ids}, the record says {recorded.get(s)}"
    assert set(recorded) == set(on_node), sorted(set(recorded) ^ set(on_node))
    sources = set(recorded_sources(crash_database_url))
    assert "member" in sources and "fallback_local" in sources, sources


def claimed_blocks(database_url: str) -> dict[int, str | None]:
    return dict(query(database_url, "SELECT slot, block_id FROM pool_claim"))


def recorded_sources(database_url: str) -> list[str]:
    return [r[0] for r in query(database_url, "SELECT DISTINCT source FROM pool_emission")]
