"""Benchmark: failover of the pool's emitter group, as real processes on loopback.

A chain node whose only producer is the pool (every slot is a pool slot), an emitter group of
three ``bppool emitter serve`` on one PostgreSQL database (a database of its own on the given
server, dropped afterwards) and three member daemons that know all three. Then, ``--kills``
times (10 by default): wait until the chain runs steadily, kill -9 the group's leader at a
random moment of a slot, and measure

* from the kill to the next pool block the node announces (target <= 1 s),
* from the kill to another instance holding the lease (the fallbacks' and DAC's side),
* pool slots lost by the kill: the slots from the kill's on (ten of them) without a block
  (target <= 1 on average),

then bring the killed instance back and wait for the group to be whole again.

Usage: ./dev bench failover [--kills 10] [--database-url postgresql://postgres@127.0.0.1:5432/postgres]
                            [--seed N] [--log-dir DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path[0] = str(Path(__file__).resolve().parents[1])

import httpx  # noqa: E402

from bench._common import bench_key, free_port, one_producer_genesis  # noqa: E402
from bppool.devnet.setup import create_database, drop_database  # noqa: E402
from chain.client.http import AsyncNodeClient  # noqa: E402
from chain.core import PrivateKey, compute_slot_at  # noqa: E402
from producer_client import Client  # noqa: E402
from service_shell.keys import write_key_file  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
POOL = "pool"
INSTANCES = ("e1", "e2", "e3")
MEMBERS = ("member1", "member2", "member3")  # the daemons spread them over e3, e1, e2
LOST_WINDOW = 10


def key_for(name: str) -> PrivateKey:
    return bench_key("bench-failover", name)


class Run:
    def __init__(self, args: argparse.Namespace, tmp: Path, database_url: str) -> None:
        self.args = args
        self.tmp = tmp
        self.database_url = database_url
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.blocks: dict[int, float] = {}  # slot -> when the node announced its pool block
        self.node_port = free_port()
        self.ports = {name: free_port() for name in INSTANCES}

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def write(self) -> None:
        accounts = [(n, key_for(n).public_key, 10**12) for n in (POOL, *MEMBERS)]
        self.genesis = one_producer_genesis(
            POOL, accounts, genesis_time=int(time.time() * 1000) + 8000, liveness_window=100_000
        )
        (self.tmp / "genesis.json").write_text(json.dumps(self.genesis.to_dict()))
        for name in (POOL, *MEMBERS):
            write_key_file(self.tmp / f"{name}.json", name, key_for(name))
        genesis = self.tmp / "genesis.json"
        (self.tmp / "node.toml").write_text(
            f'genesis = "{genesis}"\ndata_dir = "{self.tmp / "node"}"\nport = {self.node_port}\n'
            'log_level = "warning"\n'
        )
        for name in INSTANCES:
            (self.tmp / f"{name}.toml").write_text(
                f'genesis = "{genesis}"\npool_key_file = "{self.tmp / "pool.json"}"\n'
                f'node_urls = ["http://127.0.0.1:{self.node_port}"]\ndata_dir = "{self.tmp / name}"\n'
                f'port = {self.ports[name]}\ndatabase_url = "{self.database_url}"\n'
                f'instance_name = "{name}"\nadvertise_url = "{self.url(name)}"\nlog_level = "warning"\n'
                "\n[extensions.dac]\nenabled = false\n"
            )
        urls = json.dumps([self.url(n) for n in INSTANCES])
        for i, member in enumerate(MEMBERS):
            (self.tmp / f"{member}.toml").write_text(
                f'key_file = "{self.tmp / f"{member}.json"}"\ngenesis = "{genesis}"\nemitter_urls = {urls}\n'
                f'node_url = "http://127.0.0.1:{self.node_port}"\ndelay_ms = {2 + 3 * i}\njitter_ms = 5\n'
                'log_level = "warning"\n'
            )

    def start(self, name: str, args: list[str]) -> None:
        out: Any = subprocess.DEVNULL
        if self.args.log_dir:
            out = open(Path(self.args.log_dir) / f"{name}.log", "ab")  # noqa: SIM115 - the child's
        self.procs[name] = subprocess.Popen(
            [sys.executable, "-m", "bppool", *args], cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip

    def start_instance(self, name: str) -> None:
        self.start(name, ["emitter", "serve", "--config", str(self.tmp / f"{name}.toml")])

    def stop(self) -> None:
        for proc in self.procs.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(10)

    def slot_now(self) -> int:
        return compute_slot_at(
            self.genesis.genesis_time, self.genesis.params.slot_ms, int(time.time() * 1000)
        )

    async def follow_head(self) -> None:
        """Note when the node announces each pool block (its own clock, like the kill's)."""
        node = AsyncNodeClient(f"http://127.0.0.1:{self.node_port}")
        while True:
            with contextlib.suppress(Exception):
                async for event, data in node.head_stream():
                    if event == "head":
                        self.blocks.setdefault(int(data["slot"]), int(data["accepted_unix_us"]) / 1e6)
            await asyncio.sleep(0.1)

    async def leader(self, http: httpx.AsyncClient, other_than: str | None = None) -> str | None:
        for name in INSTANCES:
            if name == other_than or self.procs[name].poll() is not None:
                continue
            with contextlib.suppress(httpx.HTTPError, ValueError, KeyError, TypeError):
                leader = (await http.get(f"{self.url(name)}/v1/pool/group", timeout=0.5)).json()["leader"]
                if leader and leader["instance"] != other_than:
                    return str(leader["instance"])
        return None

    async def ready(self, http: httpx.AsyncClient, url: str) -> bool:
        with contextlib.suppress(httpx.HTTPError):
            return (await http.get(f"{url}/readyz", timeout=1)).status_code == 200
        return False

    async def until(self, predicate, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if await predicate():
                return
            await asyncio.sleep(0.05)
        raise SystemExit(f"timed out after {timeout:.0f} s waiting for {what}")

    async def steady(self, http: httpx.AsyncClient) -> None:
        """The group whole (three alive) and the last six slots filled."""

        async def whole() -> bool:
            with contextlib.suppress(httpx.HTTPError, ValueError, KeyError):
                group = (await http.get(f"{self.url(INSTANCES[0])}/v1/pool/group", timeout=1)).json()
                now = self.slot_now()
                return group["size"] == 3 and all(s in self.blocks for s in range(now - 6, now))
            return False

        await self.until(whole, 60, "the group to be whole and the chain steady")

    async def admit(self) -> None:
        async with Client(self.url(INSTANCES[0]), account=POOL, key=key_for(POOL)) as admin:
            for _ in range(200):
                listed = {m["account"]: m["status"] for m in (await admin.members())["members"]}
                for member in MEMBERS:
                    if listed.get(member) == "applied":
                        await admin.admin_member(member, "admit")
                if all(listed.get(m) == "active" for m in MEMBERS):
                    return
                await asyncio.sleep(0.2)
        raise SystemExit("the members were never admitted")


async def measure(run: Run, rng: random.Random) -> list[dict[str, float]]:
    results = []
    async with httpx.AsyncClient() as http:
        follower = asyncio.create_task(run.follow_head())
        try:
            for name in INSTANCES:
                await run.until(lambda name=name: run.ready(http, run.url(name)), 60, f"instance {name}")
            await run.admit()
            for i in range(run.args.kills):
                await run.steady(http)
                leader = await run.leader(http)
                if leader is None:
                    raise SystemExit("the group has no leader")
                await asyncio.sleep(rng.uniform(0, 0.5))  # anywhere in a slot
                killed_at = time.time()
                kill_slot = run.slot_now()
                os.killpg(run.procs[leader].pid, signal.SIGKILL)
                await run.until(
                    lambda killed_at=killed_at: _next_block(run, killed_at), 10, "the next pool block"
                )
                next_block = min(t for t in run.blocks.values() if t > killed_at) - killed_at
                await run.until(
                    lambda leader=leader: _new_leader(run, http, leader), 10, "another instance to lead"
                )
                new_leader = time.time() - killed_at
                run.procs[leader].wait(5)
                await asyncio.sleep(LOST_WINDOW * 0.5)
                lost = sum(1 for s in range(kill_slot, kill_slot + LOST_WINDOW) if s not in run.blocks)
                results.append({"next_block_s": next_block, "new_leader_s": new_leader, "lost": lost})
                print(
                    f"kill {i + 1:>2}: leader {leader} at slot {kill_slot}; next pool block after "
                    f"{next_block * 1000:6.0f} ms; lease taken over after {new_leader * 1000:5.0f} ms (by "
                    f"the time it was seen); slots lost {lost}",
                    flush=True,
                )
                run.start_instance(leader)
        finally:
            follower.cancel()
    return results


async def _next_block(run: Run, after: float) -> bool:
    return any(t > after for t in run.blocks.values())


async def _new_leader(run: Run, http: httpx.AsyncClient, killed: str) -> bool:
    return await run.leader(http, other_than=killed) is not None


def report(results: list[dict[str, float]]) -> None:
    nexts = [r["next_block_s"] * 1000 for r in results]
    leaders = [r["new_leader_s"] * 1000 for r in results]
    lost = [r["lost"] for r in results]
    print(f"kills:                                  {len(results)}")
    print(
        f"kill -9 of the leader -> next pool block: median {statistics.median(nexts):.0f} ms, "
        f"max {max(nexts):.0f} ms   (target <= 1000 ms)"
    )
    print(
        f"kill -9 of the leader -> new leader:      median {statistics.median(leaders):.0f} ms, "
        f"max {max(leaders):.0f} ms"
    )
    print(
        f"pool slots lost per kill:                 mean {statistics.mean(lost):.2f}, "
        f"max {max(lost)}   (target <= 1)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BPPOOL_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"),
        help="a PostgreSQL server (the benchmark makes its own database on it)",
    )
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--log-dir", help="keep the processes' logs in this folder")
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    print(f"seed {seed}")
    database_url = create_database(args.database_url)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            run = Run(args, Path(tmp), database_url)
            run.write()
            try:
                run.start("node", ["chain", "node", "--config", str(run.tmp / "node.toml")])
                for name in INSTANCES:
                    run.start_instance(name)
                for member in MEMBERS:
                    run.start(member, ["producer", "run", "--config", str(run.tmp / f"{member}.toml")])
                report(asyncio.run(measure(run, random.Random(seed))))
            finally:
                run.stop()
    finally:
        drop_database(database_url)


if __name__ == "__main__":
    main()
