"""Chaos on an emitter group of three: real processes, real PostgreSQL, a real node.

The pool is the chain's only producer (every slot is a pool slot; the chain's liveness rules
are the default ones, so a pool that misses too many is jailed). Three ``bppool emitter
serve`` instances share one database; three member daemons know all three. While the chain
runs at least ``BPPOOL_CHAOS_SLOTS`` pool slots (100 by default), the leader is killed with
SIGKILL at random moments and brought back (``BPPOOL_CHAOS_KILLS`` times, 4 by default), once
it is stopped with SIGSTOP past its lease and resumed, and once every session of the group's
database is terminated (``pg_terminate_backend``). Then, over everything the node ever stored
(canonical or not) and every claim row:

* no slot has two different pool-signed blocks, and every pool block is its slot's claim;
* every delivery a member saw acknowledged is in the shared event log;
* the pool was never jailed, and the chain kept going;
* the paused leader claimed nothing, after its pause, for a slot that was over when it resumed;
* printed: pool slots lost per kill (the ten slots from each kill without a block), and for
  the pause and the terminated sessions.

``BPPOOL_CHAOS_SEED`` replays a run (its seed is printed).
"""

from __future__ import annotations

import os
import random
import re
import signal
import sqlite3
import subprocess
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from sqlalchemy.engine import make_url

from chain.core import compute_slot_at
from emitter import crud, groupstore
from service_shell.db import make_engine
from tests.conftest import POSTGRES_ADMIN_URL
from tests.helpers.chain import key_for
from tests.helpers.node import make_network
from tests.helpers.procs import Processes, free_port_block, is_ready, wait_for

pytestmark = pytest.mark.e2e

SLOTS = int(os.environ.get("BPPOOL_CHAOS_SLOTS", "100"))
KILLS = int(os.environ.get("BPPOOL_CHAOS_KILLS", "4"))
SEED = int(os.environ.get("BPPOOL_CHAOS_SEED", str(random.randrange(1 << 30))))
INSTANCES = ("e1", "e2", "e3")
MEMBERS = ("member1", "member2", "member3")  # spread over e3, e1, e2 (by the daemon's hash)
TTL_MS = 1500
LOST_WINDOW = 10  # slots after an event in which a slot without a block counts as lost by it
ACKNOWLEDGED = re.compile(r"slot (\d+): (selected|valid, not selected)")


@dataclass
class Group:
    """The processes of the run and what the test did to them."""

    procs: Processes
    root: Path
    database_url: str
    node_url: str
    urls: dict[str, str]
    genesis_time: int
    slot_ms: int
    events: list[tuple[str, str, int]] = field(default_factory=list)  # (what, instance, slot)
    paused: tuple[str, int, int] | None = None  # (instance, paused at ms, resumed at ms)

    def slot_now(self) -> int:
        return compute_slot_at(self.genesis_time, self.slot_ms, int(time.time() * 1000))

    def reached(self, slot: int) -> bool:
        return self.slot_now() >= slot

    def start(self, name: str) -> subprocess.Popen[bytes]:
        return self.procs.start(name, ["emitter", "serve", "--config", str(self.root / f"{name}.toml")])

    def leader(self) -> str | None:
        for name, url in self.urls.items():
            proc = self.procs.procs.get(name)
            if proc is None or proc.poll() is not None or (self.paused and self.paused[0] == name):
                continue
            try:
                leader = httpx.get(f"{url}/v1/pool/group", timeout=1).json().get("leader")
            except (httpx.HTTPError, ValueError):
                continue
            if leader:
                return str(leader["instance"])
        return None

    def wait_leader(self, other_than: str | None = None, timeout: float = 15) -> str:
        def found() -> str | None:
            leader = self.leader()
            return leader if leader is not None and leader != other_than else None

        return str(wait_for(found, timeout, "a leader of the group", interval=0.05))

    def pid(self, name: str) -> int:
        return self.procs.procs[name].pid

    def kill_leader(self, rng: random.Random) -> None:
        name = self.wait_leader()
        os.killpg(self.pid(name), signal.SIGKILL)
        self.procs.procs[name].wait(10)
        self.events.append(("kill", name, self.slot_now()))
        time.sleep(rng.uniform(0.3, 2.5))
        self.start(name)

    def pause_leader(self) -> None:
        name = self.wait_leader()
        paused_at = int(time.time() * 1000)
        os.killpg(self.pid(name), signal.SIGSTOP)
        self.paused = (name, paused_at, 0)
        self.events.append(("pause", name, self.slot_now()))
        self.wait_leader(other_than=name)  # another takes over while it is stopped
        time.sleep((TTL_MS + 1000) / 1000)
        resumed_at = int(time.time() * 1000)
        os.killpg(self.pid(name), signal.SIGCONT)
        self.paused = (name, paused_at, resumed_at)

    def terminate_sessions(self) -> None:
        database = make_url(self.database_url).database
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=3) as admin:
            ended = admin.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (database,),
            ).fetchone()
        assert ended is not None and ended[0] > 0, "no session of the group to terminate"
        self.events.append(("terminate", f"{ended[0]} sessions", self.slot_now()))


def write_configs(tmp_path: Path, postgres_url: str) -> Group:
    now = int(time.time() * 1000)
    genesis_time = now - now % 1000 + 12_000  # everything is up by then
    network = make_network(tmp_path / "net", producers=("pool",), accounts=MEMBERS, genesis_time=genesis_time)
    port = free_port_block(2 + len(INSTANCES))
    node_url = f"http://127.0.0.1:{port}"
    (tmp_path / "node.toml").write_text(
        f'genesis = "{network.genesis_path}"\ndata_dir = "{tmp_path / "node"}"\nport = {port}\n'
    )
    urls = {}
    for i, name in enumerate(INSTANCES, start=1):
        url = f"http://127.0.0.1:{port + i}"
        urls[name] = url
        (tmp_path / f"{name}.toml").write_text(
            f'genesis = "{network.genesis_path}"\npool_key_file = "{network.key_path("pool")}"\n'
            f'node_urls = ["{node_url}"]\ndata_dir = "{tmp_path / name}"\nport = {port + i}\n'
            f'database_url = "{postgres_url}"\ninstance_name = "{name}"\nadvertise_url = "{url}"\n'
            f'lease_ttl_ms = {TTL_MS}\nfallback = "local"\n\n[extensions.dac]\nenabled = false\n'
        )
    for i, member in enumerate(MEMBERS):
        (tmp_path / f"{member}.toml").write_text(
            f'key_file = "{network.key_path(member)}"\ngenesis = "{network.genesis_path}"\n'
            f"emitter_urls = {list(urls.values())!r}\n".replace("'", '"')
            + f'node_url = "{node_url}"\ndelay_ms = {3 + 4 * i}\njitter_ms = 10\n'
        )
    return Group(Processes(tmp_path / "logs"), tmp_path, postgres_url, node_url, urls, genesis_time, 500)


def admit_members(group: Group) -> None:
    from producer_client import Client

    async def admit() -> None:
        async with Client(group.urls["e1"], account="pool", key=key_for("pool")) as admin:
            listed = {m["account"]: m["status"] for m in (await admin.members())["members"]}
            for member in MEMBERS:
                if listed.get(member) == "applied":
                    await admin.admin_member(member, "admit")

    def all_active() -> bool:
        import asyncio

        asyncio.run(admit())
        members = httpx.get(f"{group.urls['e1']}/v1/pool/members", timeout=3).json()["members"]
        return {m["account"] for m in members if m["status"] == "active"} == set(MEMBERS)

    wait_for(all_active, 60, "the members to be admitted", interval=0.5)


def pool_blocks_on_node(node_db: Path) -> dict[int, set[str]]:
    conn = sqlite3.connect(f"file:{node_db}?mode=ro", uri=True, timeout=10)
    try:
        rows = conn.execute("SELECT slot, id FROM node_block WHERE producer = 'pool'").fetchall()
        canonical = conn.execute(
            "SELECT slot FROM node_block WHERE producer = 'pool' AND canonical"
        ).fetchall()
    finally:
        conn.close()
    found: dict[int, set[str]] = {}
    for slot, block_id in rows:
        found.setdefault(slot, set()).add(block_id)
    found[-1] = {str(s) for (s,) in canonical}  # the canonical slots, under a key of their own
    return found


def test_a_group_of_three_survives_kills_a_pause_and_dropped_sessions(
    tmp_path: Path, postgres_url: str
) -> None:
    rng = random.Random(SEED)
    print(f"chaos seed {SEED} (BPPOOL_CHAOS_SEED={SEED} replays it)")
    group = write_configs(tmp_path, postgres_url)
    procs = group.procs
    try:
        run_chaos(group, rng)
        check(group)
    except BaseException:
        for name in sorted(p.stem for p in (tmp_path / "logs").glob("*.log")):
            print(f"--- {name} ---\n{procs.log(name)[-4000:]}")
        raise
    finally:
        if group.paused is not None:
            os.killpg(group.pid(group.paused[0]), signal.SIGCONT)
        procs.stop_all()


def run_chaos(group: Group, rng: random.Random) -> None:
    procs = group.procs
    procs.start("node", ["chain", "node", "--config", str(group.root / "node.toml")])
    for name in INSTANCES:
        group.start(name)
    for name in MEMBERS:
        procs.start(name, ["producer", "run", "--config", str(group.root / f"{name}.toml")])
    wait_for(lambda: is_ready(group.node_url), 60, "the node")
    for name, url in group.urls.items():
        wait_for(partial(is_ready, url), 60, f"instance {name}")
    admit_members(group)
    wait_for(lambda: group.slot_now() >= 5, 60, "the chain to run")
    # The events, spaced so each has recovered before the next: kills at random moments,
    # the pause and the terminated sessions among them.
    plan = ["kill"] * KILLS + ["pause", "terminate"]
    rng.shuffle(plan)
    spacing = max(8, (SLOTS - 20) // (len(plan) + 1))
    for i, what in enumerate(plan):
        wait_for(partial(group.reached, 10 + spacing * i), 120, f"slot {10 + spacing * i}")
        time.sleep(rng.uniform(0, 0.5))  # anywhere in the slot
        {
            "kill": lambda: group.kill_leader(rng),
            "pause": group.pause_leader,
            "terminate": group.terminate_sessions,
        }[what]()
    wait_for(lambda: group.slot_now() >= SLOTS + 2, 240, f"{SLOTS} pool slots")
    for name in MEMBERS:
        procs.stop(name)


def check(group: Group) -> None:
    node_db = group.root / "node" / "chain.db"
    on_node = pool_blocks_on_node(node_db)
    canonical = {int(s) for s in on_node.pop(-1)}
    engine = make_engine(group.database_url)
    try:
        claims = {c["slot"]: c for c in groupstore.list_claims(engine, producer="pool")}
        events = crud.list_events(engine, kind="arrival", limit=100_000)
    finally:
        engine.dispose()
    # No slot with two different pool-signed blocks; each is its slot's claim.
    for slot, ids in on_node.items():
        assert len(ids) == 1, f"slot {slot}: the node holds {len(ids)} pool blocks {sorted(ids)}"
        claim = claims.get(slot)
        assert claim is not None and claim["block_id"] in ids, f"slot {slot}: {ids} is not its claim {claim}"
    # Every acknowledged delivery is in the shared log.
    logged = {(e["member"], e["slot"]) for e in events}
    for member in MEMBERS:
        acknowledged = {int(m.group(1)) for m in ACKNOWLEDGED.finditer(group.procs.log(member))}
        missing = sorted(s for s in acknowledged if (member, s) not in logged)
        assert not missing, f"{member}: acknowledged deliveries not in the log for slots {missing}"
        assert acknowledged, f"{member} had no delivery acknowledged"
    # The pool was never jailed, and the chain went on to the end.
    producers = httpx.post(f"{group.node_url}/v1/chain/get_producers", json={"limit": 10}, timeout=5).json()
    pool = next(p for p in producers["rows"] if p["owner"] == "pool")
    assert not pool["jailed"] and not pool["tombstoned"], pool
    assert max(canonical) >= SLOTS, f"the chain stopped at slot {max(canonical)}"
    # The paused leader acted on nothing it held before: no claim of it, since the pause began,
    # for a slot that was over when it resumed (the slot in progress then is a fresh one it may
    # take part in, once back in the group).
    assert group.paused is not None
    name, paused_at, resumed_at = group.paused
    stale = [
        c
        for c in claims.values()
        if c["instance"] == name
        and c["claimed_ms"] >= paused_at
        and group.genesis_time + (c["slot"] + 1) * group.slot_ms <= resumed_at
    ]
    assert not stale, f"{name} claimed, after its pause, slots over before it resumed: {stale}"
    after = sorted(
        c["slot"] for c in claims.values() if c["instance"] == name and c["claimed_ms"] >= paused_at
    )
    at = partial(compute_slot_at, group.genesis_time, group.slot_ms)
    print(
        f"{name} paused at slot {at(paused_at)}, resumed at slot {at(resumed_at)}; "
        f"its claims since: {after[:8]}"
    )
    # The instances shared the work: members spread over them (a kill moves some for good).
    assert len({c["instance"] for c in claims.values()}) >= 2, "one instance won every slot"
    report(group, canonical, claims)


def report(group: Group, canonical: set[int], claims: dict[int, dict[str, Any]]) -> None:
    lost_per_kill = []
    for what, who, slot in group.events:
        lost = sum(1 for s in range(slot, slot + LOST_WINDOW) if s not in canonical)
        if what == "kill":
            lost_per_kill.append(lost)
        print(f"{what} {who} at slot {slot}: {lost} pool slot(s) lost in the {LOST_WINDOW} after")
    missing = sorted(s for s in range(5, max(canonical) + 1) if s not in canonical)
    mean = sum(lost_per_kill) / max(1, len(lost_per_kill))
    print(
        f"pool slots lost per kill: {lost_per_kill} (mean {mean:.1f}); "
        f"slots 5..{max(canonical)} without a pool block: {len(missing)} {missing}"
    )
    by_instance: dict[str, int] = {}
    for claim in claims.values():
        by_instance[str(claim["instance"])] = by_instance.get(str(claim["instance"]), 0) + 1
    print(f"claims won by instance: {dict(sorted(by_instance.items()))}")
