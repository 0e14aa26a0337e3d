"""Benchmark: applying transfers with the chain core, on one core.

Prints, each on its own line:
  1. raw PyNaCl ed25519 verify rate (the same distinct signatures and keys as the block's);
  2. transfers applied per second with signature checks, and its ratio to (1) (target >= 0.75);
  3. transfers applied per second with signatures already verified (mempool cache;
     target >= 40,000/s);
  4. state root update cost per changed record at 10k, 100k and 1M accounts, and the ratio
     1M / 10k (target: flat, i.e. close to 1.0).

"Applied" means the whole ``state_transition`` of a block holding the transfers: header and
signature checks, every transaction, rewards, liveness, schedule and the state root check.

Usage: ./dev bench chain_apply [--txs N] [--sizes 10000,100000,1000000]
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import time
from pathlib import Path

# Run as a script: the repository root, not this folder, comes first on the path.
sys.path[0] = str(Path(__file__).resolve().parents[1])

import nacl.bindings  # noqa: E402
import nacl.signing  # noqa: E402

from bench._common import bench_key, one_producer_genesis, signed_transfer  # noqa: E402
from chain.core import (  # noqa: E402
    Genesis,
    PrivateKey,
    SignatureCache,
    State,
    build_block,
    compute_state_root,
    create_genesis_state,
    state_transition,
)
from chain.core.crypto import DOMAIN_TX, compute_signing_digest  # noqa: E402
from chain.core.state import Account, state_tree_hashed_nodes  # noqa: E402

GENESIS_TIME = 1_700_000_000_000


def pin_one_core() -> None:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})


def name_for(i: int) -> str:
    digits = "abcdefghijklmnopqrstuvwxyz12345"
    out = ""
    i += 1
    while i:
        i, r = divmod(i, len(digits))
        out = digits[r] + out
    return ("u" + out)[:12]


def key_for(i: int) -> PrivateKey:
    return bench_key("bench", i)


def make_genesis(senders: int, extra: int = 0) -> tuple[Genesis, list[PrivateKey]]:
    keys = [key_for(i) for i in range(senders)]
    accounts: list[tuple[str, str, int]] = [(name_for(i), keys[i].public_key, 10**12) for i in range(senders)]
    accounts += [(name_for(senders + i), "ab" * 32, 1) for i in range(extra)]
    producer = bench_key("bench", "producer")
    accounts.append(("producer", producer.public_key, 0))
    genesis = one_producer_genesis(
        "producer", accounts, genesis_time=GENESIS_TIME, max_block_transactions=100_000
    )
    return genesis, [*keys, producer]


def make_block(state: State, keys: list[PrivateKey], n: int, slot: int, nonce: int):
    senders = len(keys) - 1
    txs = [
        signed_transfer(
            state.chain_id,
            name_for(i % senders),
            keys[i % senders],
            to=name_for((i + 1) % senders),
            nonce=nonce + i // senders,
            expiration=GENESIS_TIME + 3_000_000,
        )
        for i in range(n)
    ]
    built = build_block(state, slot=slot, producer="producer", transactions=txs)
    assert len(built.block.transactions) == n, built.rejected[:1]
    return built.block.signed_by_producer(keys[-1])


def raw_verify_rate(pairs: list[tuple[bytes, bytes]], seconds: float = 0.5) -> float:
    """Verifies per second through PyNaCl's fastest entry point (the binding the chain uses),
    cycling through distinct (signed digest, public key) pairs like a block's, with nothing
    else in the loop."""
    verify = nacl.bindings.crypto_sign_open
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for signed, key in pairs:
            verify(signed, key)
        n += len(pairs)
    return n / (time.perf_counter() - start)


def signature_pairs(state: State, block) -> list[tuple[bytes, bytes]]:
    """The (signature || signing digest, public key) pairs of a block's transactions."""
    return [
        (
            bytes.fromhex(tx.signature) + compute_signing_digest(DOMAIN_TX, tx.body_bytes),
            bytes.fromhex(state.accounts[tx.sender].key),
        )
        for tx in block.transactions
    ]


def fresh_transfer_blocks(n: int, rounds: int):
    """``rounds`` independent (state, block) pairs of ``n`` fresh transfers each."""
    genesis, keys = make_genesis(senders=min(n, 2000))
    pairs = []
    for _ in range(rounds):
        state = create_genesis_state(genesis)
        pairs.append((state, make_block(state, keys, n, slot=1, nonce=0)))
    return pairs


def apply_once(state: State, block, cached: bool) -> float:
    """Transfers per second for one ``state_transition`` of ``block``."""
    cache = SignatureCache()
    if cached:
        for tx in block.transactions:
            cache.add(tx, state.accounts[tx.sender].key)
    for tx in block.transactions:  # ids are computed once on decode, outside the timing
        _ = tx.id, tx.body_bytes
    gc.collect()
    start = time.perf_counter()
    state_transition(state, block, cache)
    return len(block.transactions) / (time.perf_counter() - start)


def grown_state(size: int) -> State:
    """A chain that has grown to ``size`` accounts (inserted in chunks, root kept current)."""
    genesis, _ = make_genesis(senders=1)
    state = create_genesis_state(genesis)
    for start in range(0, size, 100_000):
        for i in range(start, min(size, start + 100_000)):
            state.accounts.put(name_for(1 + i), Account("ab" * 32, 1, 0))
        compute_state_root(state)
        state.clear_journal()
    return state


def root_cost(size: int, changed: int, repeats: int = 7) -> tuple[float, float, float]:
    """(microseconds, tree hashes) per changed record to update the root of a state with
    ``size`` accounts when ``changed`` records spread over the state change, and the
    microseconds per record of the writes themselves (a memory-hierarchy reference)."""
    state = grown_state(size)
    names = [name_for(1 + i * (size // changed)) for i in range(changed)]
    samples, hashes, writes = [], [], []
    for r in range(repeats):
        gc.collect()
        start = time.perf_counter()
        for i, name in enumerate(names):
            acc = state.accounts[name]
            state.accounts.put(name, Account(acc.key, acc.balance + r + i, acc.nonce))
        writes.append((time.perf_counter() - start) / changed * 1e6)
        gc.collect()
        before = state_tree_hashed_nodes(state)
        start = time.perf_counter()
        compute_state_root(state)
        samples.append((time.perf_counter() - start) / changed * 1e6)
        hashes.append((state_tree_hashed_nodes(state) - before) / changed)
        state.clear_journal()
    return statistics.median(samples), statistics.median(hashes), statistics.median(writes)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--txs", type=int, default=2000, help="transfers per block (default 2000)")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--changed", type=int, default=1000, help="records changed per root update")
    args = parser.parse_args()
    pin_one_core()

    # Raw verification and checked application are measured back to back in each round,
    # so that a noisy neighbour slows both sides of the ratio alike.
    raws, checked, ratios = [], [], []
    for state, block in fresh_transfer_blocks(args.txs, args.rounds):
        raw = raw_verify_rate(signature_pairs(state, block))
        rate = apply_once(state, block, cached=False)
        raws.append(raw)
        checked.append(rate)
        ratios.append(rate / raw)
    cached = statistics.median(
        apply_once(state, block, cached=True) for state, block in fresh_transfer_blocks(args.txs, args.rounds)
    )
    print(f"raw PyNaCl verify rate:                        {statistics.median(raws):>10,.0f} verifies/s")
    print(f"transfers applied/s, signatures checked:       {statistics.median(checked):>10,.0f} tx/s")
    print(f"ratio checked / raw verify (target >= 0.75):   {statistics.median(ratios):>10.2f}")
    print(f"transfers applied/s, signatures cached:        {cached:>10,.0f} tx/s (target >= 40,000)")
    print(f"ratio cached / 40,000 target:                  {cached / 40_000:>10.2f}")
    costs = {}
    for size in (int(s) for s in args.sizes.split(",")):
        micros, hashes, writes = root_cost(size, args.changed)
        costs[size] = (micros, hashes, writes)
        print(
            f"state root update at {size:>9,} accounts:      {micros:>10.2f} us per changed record"
            f" ({hashes:.2f} tree hashes; the record write itself {writes:.2f} us)"
        )
    small, large = min(costs), max(costs)
    print(
        f"root cost ratio {large:,} / {small:,} (target ~1.0):  "
        f"{costs[large][0] / costs[small][0]:>6.2f}"
        f" in time, {costs[large][1] / costs[small][1]:.2f} in hashes"
        f" (plain record writes: {costs[large][2] / costs[small][2]:.2f} in time)"
    )


if __name__ == "__main__":
    main()
