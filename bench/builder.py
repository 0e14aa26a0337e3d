"""Benchmark: a pool member builds its candidate for an open slot.

For 100, 500 and 2000 transactions in the member's mempool mirror (signatures already
verified there, as the member daemon does in the background): select them in block order,
apply them on the head state, compute the tx and state roots, sign as builder. Prints the
median build time per size and the ratio of the 500-transaction build to its target (50 ms).

Usage: ./dev bench builder [--rounds 7]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

# Run as a script: the repository root, not this folder, comes first on the path.
sys.path[0] = str(Path(__file__).resolve().parents[1])

from bench._common import bench_key, name_for, one_producer_genesis, signed_transfer  # noqa: E402
from chain.core import PrivateKey, create_genesis_state  # noqa: E402
from chain.core.mempool import Mempool  # noqa: E402
from producer_client.builder import build_candidate  # noqa: E402

TARGET_MS = 50.0


def key_for(name: str) -> PrivateKey:
    return bench_key("bench-builder", name)


def measure(size: int, rounds: int) -> float:
    senders = [name_for(i, "s") for i in range(size)]
    funded = [(n, key_for(n).public_key, 10**12) for n in [*senders, "pool", "member"]]
    genesis = one_producer_genesis("pool", funded, genesis_time=0, max_block_transactions=10_000)
    state = create_genesis_state(genesis)
    mempool = Mempool(max_size=size * 2)
    for i, sender in enumerate(senders):
        to = senders[(i + 1) % size]
        tx = signed_transfer(
            genesis.chain_id, sender, key_for(sender), to=to, nonce=0, expiration=3_000_000, fee=1 + i % 7
        )
        mempool.add(tx, state, 1_000)  # verifies the signature once, as the mirror does
    member_key = key_for("member")
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        candidate = build_candidate(
            state,
            slot=1,
            pool="pool",
            builder="member",
            key=member_key,
            transactions=mempool.select(state, size),
            sig_cache=mempool.sig_cache,
        )
        samples.append((time.perf_counter() - start) * 1000)
        if len(candidate.block.transactions) != size:
            raise SystemExit(f"built {len(candidate.block.transactions)} of {size} transactions")
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    results = {}
    for size in (100, 500, 2000):
        results[size] = measure(size, args.rounds)
        print(f"candidate build, {size:>5} transactions:         {results[size]:>8.2f} ms")
    print(
        f"ratio 500-transaction build / {TARGET_MS:.0f} ms target:  "
        f"{results[500] / TARGET_MS:>8.2f} (target < 1)"
    )


if __name__ == "__main__":
    main()
