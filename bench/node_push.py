"""Benchmark: transactions accepted per second by a chain node over HTTP on loopback.

In one run:
  1. a bare FastAPI endpoint that only reads the request body (same uvicorn, uvloop and
     httptools stack), driven with the very same signed transaction bodies;
  2. the node's ``/v1/chain/push_transaction`` (parse, checks, signature, trial apply,
     mempool) while the node keeps producing blocks every slot;
  3. the ratio node / bare (target >= 0.5);
  4. end-to-end latency from push to inclusion in a block (p50 / p99), at a steady rate.

The client is one process with many keep-alive connections and a minimal HTTP/1.1 client
(a general-purpose Python client would cost as much per request as the server and hide it).
Each sender's transactions travel on one connection, so nonces arrive in order. Server and
client are pinned to different cores.

Usage: ./dev bench node_push [--senders 1000] [--per-sender 10] [--connections 64]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Run as a script: the repository root, not this folder, comes first on the path.
sys.path[0] = str(Path(__file__).resolve().parents[1])

import orjson  # noqa: E402
from fastapi import FastAPI, Request  # noqa: E402
from starlette.responses import Response  # noqa: E402

from bench import _common  # noqa: E402
from bench._common import Connection, cores, free_port, name_for, percentile, wait_ready  # noqa: E402
from chain.core import Genesis, PrivateKey, Transaction  # noqa: E402
from service_shell.keys import write_key_file  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def key_for(name: str) -> PrivateKey:
    return _common.bench_key("bench-node", name)


async def drive(port: int, lanes: list[list[bytes]]) -> tuple[float, dict[int, int]]:
    """Send every lane's bodies in order on its own connection; (seconds, status counts)."""
    statuses: dict[int, int] = {}
    conns = [await Connection.open(port) for _ in lanes]

    async def run(conn: Connection, bodies: list[bytes]) -> None:
        for body in bodies:
            status, _ = await conn.post("/v1/chain/push_transaction", body)
            statuses[status] = statuses.get(status, 0) + 1

    start = time.perf_counter()
    await asyncio.gather(*(run(c, lane) for c, lane in zip(conns, lanes, strict=True)))
    elapsed = time.perf_counter() - start
    for c in conns:
        c.close()
    return elapsed, statuses


async def latency(port: int, txs: list[Transaction], rate: float) -> list[float]:
    """Push ``txs`` at ``rate`` per second; milliseconds from push to inclusion, per tx."""
    from chain.client.http import AsyncNodeClient

    pushed: dict[str, float] = {}
    included: dict[str, float] = {}
    client = AsyncNodeClient(f"http://127.0.0.1:{port}")
    done = asyncio.Event()

    async def watch() -> None:
        async for event, data in client.head_stream(include_blocks=True):
            if event != "head":
                continue
            now = time.perf_counter()
            for block in data.get("blocks", []):
                for tx in block["transactions"]:
                    if tx["signature"] in pushed and tx["signature"] not in included:
                        included[tx["signature"]] = now
            if len(included) == len(txs):
                done.set()
                return

    watcher = asyncio.create_task(watch())
    await asyncio.sleep(0.5)
    conn = await Connection.open(port)
    interval = 1 / rate
    start = time.perf_counter()
    for i, tx in enumerate(txs):
        await asyncio.sleep(max(0.0, start + i * interval - time.perf_counter()))
        pushed[tx.signature] = time.perf_counter()
        status, body = await conn.post("/v1/chain/push_transaction", orjson.dumps(tx.to_dict()))
        if status != 202:
            raise SystemExit(f"latency push refused: {status} {body[:200]!r}")
    try:
        await asyncio.wait_for(done.wait(), 30)
    finally:
        watcher.cancel()
        conn.close()
        await client.aclose()
    return [(included[s] - pushed[s]) * 1000 for s in included]


def serve_bare(port: int) -> None:
    """A bare FastAPI app whose POST endpoints only read the body (the comparison baseline)."""
    import uvicorn

    app = FastAPI()

    async def read(request: Request) -> Response:
        await request.body()
        return Response(b'{"ok":true}', status_code=202, media_type="application/json")

    for path in ("/v1/chain/push_transaction", "/v1/pool/candidates"):
        app.add_api_route(path, read, methods=["POST"])
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", loop="uvloop", http="httptools")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--senders", type=int, default=1000)
    parser.add_argument("--per-sender", type=int, default=10)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--latency-txs", type=int, default=400)
    parser.add_argument("--latency-rate", type=float, default=100.0)
    parser.add_argument("--serve-bare", type=int, help=argparse.SUPPRESS)
    return parser.parse_args()


def pin_client() -> set[int] | None:
    """Pin this process to the second core; the cores left for the servers (``None``: any)."""
    available = cores()
    if len(available) > 1:
        os.sched_setaffinity(0, {available[1]})
        return {available[0]}
    return None


def write_network(tmpdir: Path, names: list[str]) -> Genesis:
    """The genesis (producer ``alpha``, every sender funded) and alpha's key file, on disk."""
    producer = key_for("alpha")
    accounts = [("alpha", producer.public_key, 0), *((n, key_for(n).public_key, 10**12) for n in names)]
    genesis = _common.one_producer_genesis(
        "alpha", accounts, genesis_time=int(time.time() * 1000), max_block_transactions=5000
    )
    (tmpdir / "genesis.json").write_text(json.dumps(genesis.to_dict()))
    write_key_file(tmpdir / "alpha.json", "alpha", producer)
    return genesis


def sign_workload(
    genesis: Genesis, names: list[str], args: argparse.Namespace
) -> tuple[list[list[bytes]], list[Transaction]]:
    """The pushes' bodies in lanes (each sender's in one lane, in nonce order) and the
    transactions of the latency run (each at the nonce after its sender's pushes)."""
    expiration = genesis.genesis_time + 3_000_000

    def tx(sender: str, nonce: int, to: str) -> Transaction:
        return _common.signed_transfer(
            genesis.chain_id, sender, key_for(sender), to=to, nonce=nonce, expiration=expiration
        )

    print(f"signing {args.senders * args.per_sender:,} transactions ...", flush=True)
    by_sender = {
        n: [orjson.dumps(tx(n, k, names[0]).to_dict()) for k in range(args.per_sender)] for n in names
    }
    lanes: list[list[bytes]] = [[] for _ in range(args.connections)]
    for i, n in enumerate(names):
        lanes[i % args.connections].extend(by_sender[n])
    late = [
        tx(names[1 + (i % (args.senders - 1))], args.per_sender, names[0]) for i in range(args.latency_txs)
    ]
    return lanes, late


def start(cmd: list[str], server_cores: set[int] | None) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if server_cores:
        os.sched_setaffinity(proc.pid, server_cores)
    return proc


def measure_bare(lanes: list[list[bytes]], server_cores: set[int] | None) -> tuple[float, dict[int, int]]:
    """The bare endpoint's run over ``lanes``: (seconds, status counts)."""
    bare_port = free_port()
    bare = start([sys.executable, __file__, "--serve-bare", str(bare_port)], server_cores)
    try:
        wait_ready(bare_port, "/docs")
        return asyncio.run(drive(bare_port, lanes))
    finally:
        bare.terminate()
        bare.wait()


def measure_node(
    tmpdir: Path,
    lanes: list[list[bytes]],
    late: list[Transaction],
    rate: float,
    server_cores: set[int] | None,
) -> tuple[float, dict[int, int], list[float]]:
    """The node's run over ``lanes`` (seconds, status counts), then the push-to-inclusion
    latencies of ``late`` pushed at ``rate`` per second."""
    total = sum(len(lane) for lane in lanes)
    node_port = free_port()
    (tmpdir / "node.toml").write_text(
        f'genesis = "{tmpdir / "genesis.json"}"\nkey_file = "{tmpdir / "alpha.json"}"\n'
        f'data_dir = "{tmpdir / "node"}"\nport = {node_port}\nmempool_max = {total + 10_000}\n'
        'log_level = "warning"\n'
    )
    config = str(tmpdir / "node.toml")
    node = start([sys.executable, "-m", "bppool", "chain", "node", "--config", config], server_cores)
    try:
        wait_ready(node_port)
        node_seconds, node_statuses = asyncio.run(drive(node_port, lanes))
        time.sleep(2)
        return node_seconds, node_statuses, asyncio.run(latency(node_port, late, rate))
    finally:
        node.terminate()
        node.wait()


def main() -> None:
    args = parse_args()
    if args.serve_bare:
        serve_bare(args.serve_bare)
        return
    server_cores = pin_client()
    names = [name_for(i) for i in range(args.senders)]
    with tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        lanes, late = sign_workload(write_network(tmpdir, names), names, args)
        total = sum(len(lane) for lane in lanes)
        bare_seconds, bare_statuses = measure_bare(lanes, server_cores)
        bare_rate = total / bare_seconds
        node_seconds, node_statuses, lat = measure_node(tmpdir, lanes, late, args.latency_rate, server_cores)
        node_rate = total / node_seconds

    print(f"transactions sent per run:                    {total:>10,} ({args.connections} connections)")
    print(f"bare FastAPI endpoint (reads the body):       {bare_rate:>10,.0f} req/s  {bare_statuses}")
    print(f"node push_transaction accepted:               {node_rate:>10,.0f} tx/s   {node_statuses}")
    print(f"ratio node / bare (target >= 0.5):            {node_rate / bare_rate:>10.2f}")
    print(
        f"push to inclusion at {args.latency_rate:.0f} tx/s, p50:            {percentile(lat, 0.5):>10.1f} ms"
    )
    print(
        f"push to inclusion at {args.latency_rate:.0f} tx/s, p99:            "
        f"{percentile(lat, 0.99):>10.1f} ms"
    )
    print(f"  ({len(lat)} transactions; 500 ms slots, so ~250 ms is the expected median)")


if __name__ == "__main__":
    main()
