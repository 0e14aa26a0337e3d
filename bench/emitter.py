"""Benchmark: the pool emitter, as real processes on loopback.

In one run:
  1. latency from the arrival of the first valid candidate (500 transactions whose signatures
     the emitter has cached from the mempool) to the emitted block being accepted by the node,
     p50 and p99 (target p99 <= 15 ms), next to the floor measured in the same run (a bare HTTP
     round trip on loopback carrying the same body, plus one ed25519 signature), as a ratio;
  2. candidate intake rate with 21 members delivering concurrently in one slot, against a bare
     FastAPI endpoint reading the very same bodies (target >= 0.5).

"Accepted by the node" is measured from outside: the time the node's head stream announces
the block, minus the time the candidate was sent. The emitter runs on its own core; the node,
the bare server and this client share the other.

Members here build as the producer client does: the mempool's selection of the transactions
numbered up to the slot's ``tx_seq`` (the block the emitter validated ahead of the slot), sent
list-first (``encode_candidate``). The figures at the end show how many candidates took the
known-outcome path at the emitter and at the node. This process's own chain replica is held
still while it measures (it would otherwise apply the emitted block on the client's core).
Part 2 also prints each service's CPU time per candidate (all its threads, from /proc), a
figure less sensitive than the rates to what else this machine runs at the time.

With ``--database-url postgresql://USER@HOST:PORT/postgres`` (a server: the benchmark makes a
database of its own on it, and drops it) the pool service runs on PostgreSQL, as an emitter
group does: every emission then commits its claim there before the pool key signs.

Usage: ./dev bench emitter [--samples 30] [--intake-slots 8] [--txs 500] [--log-dir DIR]
                           [--database-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

# Run as a script: the repository root, not this folder, comes first on the path (this
# file's name would otherwise shadow the package of the same name).
sys.path[0] = str(Path(__file__).resolve().parents[1])

import httpx  # noqa: E402
import orjson  # noqa: E402

from bench._common import (  # noqa: E402
    Connection,
    bench_key,
    cores,
    free_port,
    name_for,
    one_producer_genesis,
    percentile,
    signed_transfer,
    wait_ready,
)
from bppool.devnet.setup import create_database, drop_database  # noqa: E402
from chain.client.decoding import encode_candidate  # noqa: E402
from chain.client.follower import ChainFollower  # noqa: E402
from chain.client.http import AsyncNodeClient  # noqa: E402
from chain.core import Block, PrivateKey, Transaction  # noqa: E402
from pool_protocol.requests import request_headers  # noqa: E402
from producer_client import Client  # noqa: E402
from producer_client.builder import build_candidate  # noqa: E402
from service_shell.keys import write_key_file  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
POOL = "pool"


def key_for(name: str) -> PrivateKey:
    return bench_key("bench-emitter", name)


@dataclass
class Figures:
    """What a run measured: part 1 (emission latency and its floor), part 2 (intake)."""

    latencies: list[float] = field(default_factory=list)
    floors: list[float] = field(default_factory=list)
    skipped: int = 0
    body_bytes: int = 0
    stages: dict[str, float] = field(default_factory=dict)
    rates: list[float] = field(default_factory=list)
    bare_rates: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    cpu_ms: dict[str, list[float]] = field(default_factory=lambda: {"emitter": [], "node": [], "bare": []})

    def report(self, args: argparse.Namespace) -> None:
        latencies = self.latencies
        floor = statistics.median(self.floors)
        p50, p99 = percentile(latencies, 0.5), percentile(latencies, 0.99)
        size = f"{args.txs} transactions, {self.body_bytes:,} bytes"
        print(f"candidate size:                                  {size}")
        taken = f"{len(latencies)} slots" + (f", {self.skipped} skipped" if self.skipped else "")
        print(f"first valid candidate -> node accepted, p50:     {p50:>8.2f} ms   ({taken})")
        p90, worst = percentile(latencies, 0.9), max(latencies)
        print(f"first valid candidate -> node accepted, p90:     {p90:>8.2f} ms   (max {worst:.2f} ms)")
        print(f"first valid candidate -> node accepted, p99:     {p99:>8.2f} ms   (target <= 15 ms)")
        print(f"floor: bare round trip of the body + signature:  {floor:>8.2f} ms")
        print(f"ratio p99 / floor:                               {p99 / floor:>8.1f}")
        if self.rates:
            self.report_intake()
        print("where the latency goes (means over part 1, from the services' own histograms):")
        for label, value in self.stages.items():
            unit = "" if "(count)" in label else " ms"
            print(f"  {label:47s}{value:>8.2f}{unit}" if unit else f"  {label:47s}{value:>8.0f}")

    def report_intake(self) -> None:
        intake, bare = statistics.median(self.rates), statistics.median(self.bare_rates)
        statuses = self.statuses
        print(f"intake, 21 concurrent members:                   {intake:>8.0f} candidates/s  {statuses}")
        print(f"bare endpoint, same 21 bodies:                   {bare:>8.0f} requests/s")
        print(f"ratio intake / bare (target >= 0.5):             {intake / bare:>8.2f}")
        if any(self.cpu_ms["emitter"]):  # /proc only
            per = {k: statistics.median(v) for k, v in self.cpu_ms.items()}
            print(
                f"CPU per candidate: emitter {per['emitter']:.2f} ms, node {per['node']:.2f} ms; "
                f"bare endpoint per request {per['bare']:.2f} ms"
            )


class Bench:
    def __init__(self, args: argparse.Namespace, tmp: Path) -> None:
        self.args = args
        self.tmp = tmp
        self.members = [name_for(i, "m") for i in range(21)]
        self.senders = [name_for(i, "s") for i in range(args.txs)]
        self.procs: list[subprocess.Popen[bytes]] = []
        self.named: dict[str, subprocess.Popen[bytes]] = {}
        self.nonce = 0
        self.signer = key_for(POOL)  # the floor's signature, as the emitter's
        self.database_url: str | None = None  # the pool service's (SQLite in tmp when None)

    # --- set-up ----------------------------------------------------------------------------

    def write_network(self) -> None:
        accounts = [(POOL, key_for(POOL).public_key, 0)]
        accounts += [(n, key_for(n).public_key, 10**12) for n in self.members + self.senders]
        self.genesis = one_producer_genesis(
            POOL,
            accounts,
            genesis_time=int(time.time() * 1000) + 1000,
            liveness_window=100_000,
            max_block_transactions=5000,
        )
        (self.tmp / "genesis.json").write_text(json.dumps(self.genesis.to_dict()))
        write_key_file(self.tmp / "pool.json", POOL, key_for(POOL))
        self.node_port, self.emitter_port, self.bare_port = free_port(), free_port(), free_port()
        (self.tmp / "node.toml").write_text(
            f'genesis = "{self.tmp / "genesis.json"}"\ndata_dir = "{self.tmp / "node"}"\n'
            f'port = {self.node_port}\nlog_level = "{self.args.log_level}"\nmempool_max = 100000\n'
        )
        (self.tmp / "emitter.toml").write_text(
            f'genesis = "{self.tmp / "genesis.json"}"\npool_key_file = "{self.tmp / "pool.json"}"\n'
            f'node_urls = ["http://127.0.0.1:{self.node_port}"]\ndata_dir = "{self.tmp / "emitter"}"\n'
            f'port = {self.emitter_port}\nfallback = "none"\nlog_level = "{self.args.log_level}"\n'
            + (f'database_url = "{self.database_url}"\n' if self.database_url else "")
            + "\n"
            # The pool service runs with its DAC, as in production; the members are its founders.
            f"[extensions.dac]\nbootstrap_members = {json.dumps(self.members)}\n"
            '[extensions.dac.bootstrap_parameters]\nfallback = "none"\n'
        )

    def start(self, name: str, args: list[str], core: int | None) -> None:
        if self.args.log_dir:
            with open(Path(self.args.log_dir) / f"{name}.log", "wb") as log:
                proc = subprocess.Popen(args, cwd=ROOT, stdout=log, stderr=log)
        else:
            proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if core is not None:
            os.sched_setaffinity(proc.pid, {core})
        self.procs.append(proc)
        self.named[name] = proc

    def cpu_times(self) -> dict[str, int]:
        """CPU time (ns, all threads) of each service so far, from /proc (empty elsewhere)."""
        out: dict[str, int] = {}
        for name, proc in self.named.items():
            total = 0
            with contextlib.suppress(OSError):
                for task in Path(f"/proc/{proc.pid}/task").iterdir():
                    with contextlib.suppress(OSError):
                        total += int((task / "schedstat").read_text().split()[0])
            out[name] = total
        return out

    def stop(self) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(10)

    # --- helpers ---------------------------------------------------------------------------

    def fresh_transactions(self) -> list[Transaction]:
        """One transfer from every sender (to the next sender), all at the next nonce."""
        nonce, self.nonce = self.nonce, self.nonce + 1
        n = len(self.senders)
        return [
            signed_transfer(
                self.genesis.chain_id,
                s,
                key_for(s),
                to=self.senders[(i + 1) % n],
                nonce=nonce,
                expiration=int(time.time() * 1000) + 600_000,
            )
            for i, s in enumerate(self.senders)
        ]

    async def flush(self) -> None:
        """Get whatever a previous round left pending (a slot missed on a noisy machine) into
        blocks first, unmeasured, so that every measured candidate holds exactly one round."""
        for _ in range(10):
            if not len(self.follower.mempool):
                return
            opened = await self.next_slot_open()
            block = self.candidate(opened, self.members[0])
            body = encode_candidate(block)
            async with httpx.AsyncClient() as http:
                await http.post(
                    f"http://127.0.0.1:{self.emitter_port}/v1/pool/candidates",
                    content=body,
                    headers=self.headers(self.members[0], body),
                )
            await asyncio.sleep(0.3)
        raise SystemExit("transactions of an earlier round stayed pending for ten slots")

    async def push_to_mempool(self, txs: list[Transaction]) -> None:
        await self.flush()
        conns = [await Connection.open(self.node_port) for _ in range(16)]

        async def lane(conn: Connection, part: list[Transaction]) -> None:
            for tx in part:
                status, body = await conn.post("/v1/chain/push_transaction", orjson.dumps(tx.to_dict()))
                if status != 202:
                    raise SystemExit(f"node refused a transaction: {status} {body[:200]!r}")

        await asyncio.gather(*(lane(c, txs[i::16]) for i, c in enumerate(conns)))
        for c in conns:
            c.close()
        ids = {tx.id for tx in txs}
        while not ids <= {tx.id for tx in self.follower.mempool.pending()}:
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.25)  # the emitter's mirror polls every 50 ms and verifies them

    def candidate(self, opened: dict, builder: str) -> Block:
        """The member's candidate, built as the producer client builds it: the mempool's
        selection (of the transactions numbered up to the slot's ``tx_seq``) on the parent."""
        state = self.follower.state
        limit = state.params.max_block_transactions
        candidate = build_candidate(
            state,
            slot=opened["slot"],
            pool=POOL,
            builder=builder,
            key=key_for(builder),
            transactions=self.follower.mempool.select(state, limit, max_seq=opened.get("tx_seq")),
            sig_cache=self.follower.sig_cache,
        )
        return candidate.block

    async def open_slot_with(self, txs: list[Transaction]) -> tuple[dict, Block]:
        """The next slot whose candidate holds exactly ``txs`` (a slot whose expected block
        the emitter settled before its mirror held them all is left to pass)."""
        while not self.feed.empty():
            self.feed.get_nowait()
        for _ in range(5):
            opened = await self.next_slot_open()
            block = self.candidate(opened, self.members[0])
            if {tx.id for tx in block.transactions} == {tx.id for tx in txs}:
                return opened, block
        raise SystemExit("five slots passed without a candidate holding the benchmark's transactions")

    def headers(self, member: str, body: bytes) -> dict[str, str]:
        return request_headers(
            key_for(member),
            member,
            chain_id=self.genesis.chain_id,
            pool=POOL,
            method="POST",
            path="/v1/pool/candidates",
            timestamp=int(time.time() * 1000),
            body=body,
        )

    async def next_slot_open(self) -> dict:
        while True:
            event, data = await self.feed.get()
            # An event still in flight from a slot that has closed since is not for us.
            fresh = data.get("deadline_ms", 0) > time.time() * 1000 + 100
            if event == "slot_open" and not data.get("reopen") and fresh:
                # Build on the replica only once it holds the slot's parent.
                while self.follower.state.head_id != data["prev_id"]:
                    await asyncio.sleep(0.001)
                return data

    # --- measurements ----------------------------------------------------------------------

    async def run(self) -> None:
        admin = Client(f"http://127.0.0.1:{self.emitter_port}", account=POOL, key=key_for(POOL))
        clients = {
            m: Client(f"http://127.0.0.1:{self.emitter_port}", account=m, key=key_for(m))
            for m in self.members
        }
        for c in clients.values():
            result = await c.apply()
            assert result["status"] == "active", result  # founders: admitted by the DAC on application
        self.follower = ChainFollower(self.genesis, f"http://127.0.0.1:{self.node_port}")
        await self.follower.start()
        await self.follower.synced.wait()
        node = AsyncNodeClient(f"http://127.0.0.1:{self.node_port}")
        self.accepted: dict[str, float] = {}

        async def watch_node() -> None:
            async for event, data in node.head_stream():
                if event == "head":
                    self.accepted[data["id"]] = data["accepted_unix_us"] / 1e6

        self.feed: asyncio.Queue[tuple[str, dict]] = asyncio.Queue()

        async def watch_feed() -> None:
            async for event, data in clients[self.members[0]].slot_feed():
                await self.feed.put((event, data))

        watchers = [asyncio.create_task(watch_node()), asyncio.create_task(watch_feed())]
        await asyncio.sleep(0.5)

        figures = Figures()
        await self.measure_emissions(figures)
        figures.stages = await self.stage_means()  # before the intake phase queues deliveries on purpose
        await self.measure_intake(figures)

        for w in watchers:
            w.cancel()
        await asyncio.gather(*watchers, return_exceptions=True)  # their streams closed first
        await self.follower.stop()
        await node.aclose()
        await admin.aclose()
        for c in clients.values():
            await c.aclose()
        figures.report(self.args)

    async def measure_emissions(self, figures: Figures) -> None:
        """Part 1: first valid candidate -> accepted by the node, and the floor beside it."""
        args = self.args
        print(f"measuring {args.samples} emissions of {args.txs}-transaction candidates ...", flush=True)
        while len(figures.latencies) < args.samples:
            txs = self.fresh_transactions()
            await self.push_to_mempool(txs)
            opened, block = await self.open_slot_with(txs)
            body = encode_candidate(block)
            figures.body_bytes = len(body)
            headers = self.headers(self.members[0], body)
            # Fresh connections (the servers close idle ones between samples), warm by now.
            emitter_conn = await Connection.open(self.emitter_port)
            bare_conn = await Connection.open(self.bare_port)
            try:
                sample = await self.emission_sample(emitter_conn, bare_conn, block, body, headers)
            finally:
                emitter_conn.close()
                bare_conn.close()
            if sample is None:
                figures.skipped += 1
                if figures.skipped > args.samples:
                    raise SystemExit("more samples skipped than taken: the machine is too busy")
                continue
            figures.latencies.append(sample[0])
            figures.floors.append(sample[1])

    async def emission_sample(
        self,
        emitter_conn: Connection,
        bare_conn: Connection,
        block: Block,
        body: bytes,
        headers: dict[str, str],
    ) -> tuple[float, float] | None:
        """One emission's latency and the floor measured right after it, in milliseconds;
        ``None`` when the candidate was not selected."""
        sent = time.time_ns() / 1e9
        status, reply = await emitter_conn.post("/v1/pool/candidates", body, headers)
        if status != 200 or not orjson.loads(reply)["selected"]:
            # This client was too slow for the slot (a stall of this machine): no sample.
            print(f"  sample skipped (not selected: {status} {reply[:160]!r})", flush=True)
            return None
        while block.id not in self.accepted:
            await asyncio.sleep(0.0005)
        latency = (self.accepted[block.id] - sent) * 1000
        # the floor, right after: the same body over a bare round trip, plus one signature
        # (once this process's replica has applied the block: not during that work)
        while self.follower.state.head_id != block.id:
            await asyncio.sleep(0.001)
        async with self.follower.lock:
            start = time.perf_counter()
            await bare_conn.post("/v1/pool/candidates", body)
            self.signer.sign(b"bppool/block/v1", block.header.canonical)
            return latency, (time.perf_counter() - start) * 1000

    async def measure_intake(self, figures: Figures) -> None:
        """Part 2: intake rate, 21 members delivering concurrently in one slot."""
        print(
            f"measuring intake of 21 concurrent deliveries over {self.args.intake_slots} slots ...",
            flush=True,
        )
        for _ in range(self.args.intake_slots):
            txs = self.fresh_transactions()
            await self.push_to_mempool(txs)
            opened, base = await self.open_slot_with(txs)
            bodies = []
            for m in self.members:
                header = replace(base.header, builder=m)
                block = Block(header, base.transactions).signed_by_builder(key_for(m))
                bodies.append(encode_candidate(block))
            signed = [(b, self.headers(m, b)) for m, b in zip(self.members, bodies, strict=True)]
            # Fresh connections each slot: the servers close idle ones between slots.
            conns = [await Connection.open(self.emitter_port) for _ in self.members]
            bare_conns = [await Connection.open(self.bare_port) for _ in self.members]
            # This process only delivers while it measures: its own replica (which would apply
            # the emitted block on this core mid-measurement) waits until both rounds are done.
            async with self.follower.lock:
                await self.intake_round(figures, conns, signed)
                for _ in range(5):  # the baseline is cheap and noisy: several rounds per slot
                    await self.bare_round(figures, bare_conns, bodies)
            for conn in [*conns, *bare_conns]:
                conn.close()

    async def intake_round(
        self, figures: Figures, conns: list[Connection], signed: list[tuple[bytes, dict[str, str]]]
    ) -> None:
        """Every member's signed candidate delivered at once, one connection each."""

        async def deliver(conn: Connection, body: bytes, headers: dict[str, str]) -> None:
            status, _ = await conn.post("/v1/pool/candidates", body, headers)
            figures.statuses[status] = figures.statuses.get(status, 0) + 1

        cpu = self.cpu_times()
        start = time.perf_counter()
        await asyncio.gather(*(deliver(c, b, h) for c, (b, h) in zip(conns, signed, strict=True)))
        figures.rates.append(len(signed) / (time.perf_counter() - start))
        after = self.cpu_times()
        for name in ("emitter", "node"):
            figures.cpu_ms[name].append((after[name] - cpu[name]) / 1e6 / len(signed))

    async def bare_round(self, figures: Figures, bare_conns: list[Connection], bodies: list[bytes]) -> None:
        """The same bodies delivered at once to the bare endpoint."""
        cpu = self.cpu_times()
        start = time.perf_counter()
        await asyncio.gather(
            *(c.post("/v1/pool/candidates", b) for c, b in zip(bare_conns, bodies, strict=True))
        )
        figures.bare_rates.append(len(bodies) / (time.perf_counter() - start))
        figures.cpu_ms["bare"].append((self.cpu_times()["bare"] - cpu["bare"]) / 1e6 / len(bodies))

    async def stage_means(self) -> dict[str, float]:
        def counter(text: str, name: str, label: str) -> float:
            for line in text.splitlines():
                if line.startswith((f"{name}{{", f"{name} ")) and label in line:
                    return float(line.split()[1])
            return 0.0

        def mean(text: str, name: str) -> float:
            total = count = 0.0
            for line in text.splitlines():
                if line.startswith(f"{name}_sum "):
                    total = float(line.split()[1])
                elif line.startswith(f"{name}_count "):
                    count = float(line.split()[1])
            return total / count * 1000 if count else float("nan")

        async with httpx.AsyncClient() as http:
            emitter = (await http.get(f"http://127.0.0.1:{self.emitter_port}/metrics")).text
            node = (await http.get(f"http://127.0.0.1:{self.node_port}/metrics")).text
        return {
            "emitter: arrival -> verdict (incl. emission record)": mean(
                emitter, "bppool_emitter_validation_seconds"
            ),
            "emitter: arrival -> node answered the push": mean(emitter, "bppool_emitter_emit_seconds"),
            "node: prepare (validate ahead of the signature)": mean(
                node, "bppool_chain_block_prepare_seconds"
            ),
            "node: commit (or apply) of the emitted block": mean(node, "bppool_chain_block_apply_seconds"),
            "blocks validated ahead of their slot (count)": counter(
                emitter, "bppool_emitter_expected_blocks_total", ""
            ),
            "candidates judged by a known outcome (count)": counter(
                emitter, "bppool_emitter_validation_path_total", 'path="known"'
            ),
            "candidates judged by a state transition (count)": counter(
                emitter, "bppool_emitter_validation_path_total", 'path="full"'
            ),
            "node prepares by a known outcome (count)": counter(
                node, "bppool_chain_block_prepares_total", 'path="known"'
            ),
            "node prepares by a state transition (count)": counter(
                node, "bppool_chain_block_prepares_total", 'path="full"'
            ),
            "blocks delivered by commit (count)": counter(
                emitter, "bppool_emitter_block_deliveries_total", "commit"
            ),
            "blocks delivered by full push (count)": counter(
                emitter, "bppool_emitter_block_deliveries_total", "push"
            ),
        }


async def main_async(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        bench = Bench(args, Path(tmp))
        if args.database_url:
            bench.database_url = create_database(args.database_url)
            print(f"pool service on PostgreSQL: {bench.database_url} (claims committed before signing)")
        bench.write_network()
        available = cores()
        emitter_core = available[0] if len(available) > 1 else None
        other_core = available[1] if len(available) > 1 else None
        if other_core is not None:
            os.sched_setaffinity(0, {other_core})
        try:
            bench.start(
                "node",
                [sys.executable, "-m", "bppool", "chain", "node", "--config", str(bench.tmp / "node.toml")],
                other_core,
            )
            bench.start(
                "emitter",
                [
                    sys.executable,
                    "-m",
                    "bppool",
                    "emitter",
                    "serve",
                    "--config",
                    str(bench.tmp / "emitter.toml"),
                ],
                emitter_core,
            )
            bench.start(
                "bare",
                [sys.executable, str(ROOT / "bench" / "node_push.py"), "--serve-bare", str(bench.bare_port)],
                other_core,
            )
            wait_ready(bench.node_port)
            wait_ready(bench.emitter_port)
            wait_ready(bench.bare_port, "/docs")
            await bench.run()
        finally:
            bench.stop()
            if bench.database_url:
                drop_database(bench.database_url)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--samples", type=int, default=30)
    parser.add_argument("--intake-slots", type=int, default=8)
    parser.add_argument("--txs", type=int, default=500)
    parser.add_argument("--log-dir", help="keep the services' logs in this folder (node.log, emitter.log)")
    parser.add_argument("--log-level", default="warning", help="the services' log level (default warning)")
    parser.add_argument("--database-url", help="a PostgreSQL server for the pool service (default: SQLite)")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
