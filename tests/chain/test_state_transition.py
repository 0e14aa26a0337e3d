"""state_transition as a whole: atomicity, roots, undo logs."""

from __future__ import annotations

from dataclasses import replace

import pytest

from chain.core import Block, compute_full_state_root, compute_state_root, state_transition
from chain.core.errors import InsufficientBalance, StateRootMismatch, TxRootMismatch
from chain.core.state import state_tree_hashed_nodes
from tests.helpers.chain import ChainSim, key_for, make_genesis, transfer


def test_block_with_invalid_transaction_leaves_state_untouched(sim: ChainSim) -> None:
    root = compute_state_root(sim.state)
    good = transfer(sim.state, "alice", "bob", 5)
    block = sim.make_block(1, [good])
    bad = transfer(sim.state, "bob", "carol", 2**61, nonce=0)
    from chain.core.transition import compute_tx_root

    header = replace(block.header, tx_root=compute_tx_root([good, bad]))
    forged = Block(header, (good, bad)).signed_by_producer(key_for("alpha"))
    with pytest.raises(InsufficientBalance, match=r"transaction 1 \("):
        state_transition(sim.state, forged, sim.cache)
    assert compute_state_root(sim.state) == root == compute_full_state_root(sim.state)
    assert sim.state.height == 0 and sim.state.accounts["alice"].nonce == 0


def test_state_root_mismatch(sim: ChainSim) -> None:
    block = sim.make_block(1)
    forged = Block(replace(block.header, state_root="00" * 32), ()).signed_by_producer(key_for("alpha"))
    with pytest.raises(StateRootMismatch, match="results in"):
        state_transition(sim.state, forged, sim.cache)
    assert sim.state.height == 0


def test_tx_root_mismatch(sim: ChainSim) -> None:
    block = sim.make_block(1, [transfer(sim.state, "alice", "bob", 5)])
    forged = Block(block.header, ()).signed_by_producer(key_for("alpha"))
    with pytest.raises(TxRootMismatch):
        state_transition(sim.state, forged, sim.cache)


def test_undo_log_restores_the_previous_state(sim: ChainSim) -> None:
    sim.produce(1)
    root, head = compute_state_root(sim.state), sim.state.head_id
    block = sim.make_block(2, [transfer(sim.state, "alice", "bob", 5)])
    log = state_transition(sim.state, block, sim.cache)
    assert sim.state.head_id == block.id
    sim.state.undo(log)
    assert compute_state_root(sim.state) == root and sim.state.head_id == head


def test_replays_are_deterministic() -> None:
    a, b = ChainSim(make_genesis()), ChainSim(make_genesis())
    for slot in (1, 2, 5, 13, 14, 30):
        block = a.produce(slot, [transfer(a.state, "alice", "bob", slot)])
        state_transition(b.state, block)
        assert compute_state_root(a.state) == compute_state_root(b.state)


def test_root_cost_follows_the_block_not_the_state() -> None:
    """Applying the same one-transfer block costs the same tree work at any state size."""
    from chain.core.params import Genesis, GenesisAccount

    costs = []
    for extra in (100, 20_000):
        base = make_genesis()
        accounts = base.accounts + tuple(
            GenesisAccount(
                f"u{i:0>8}".replace("0", "a")
                .replace("6", "b")
                .replace("7", "c")
                .replace("8", "d")
                .replace("9", "e"),
                "ab" * 32,
                1,
            )  # type: ignore[arg-type]
            for i in range(extra)
        )
        sim = ChainSim(Genesis(base.genesis_time, accounts, base.producers, base.params))
        block = sim.make_block(1, [transfer(sim.state, "alice", "bob", 5)])
        compute_state_root(sim.state)
        before = state_tree_hashed_nodes(sim.state)
        state_transition(sim.state, block, sim.cache)
        costs.append(state_tree_hashed_nodes(sim.state) - before)
    # 5 records change (alice, bob, alpha's account and producer record, the meta record):
    # 5 value hashes + 5 buckets + at most 5 nodes on each of the 5 levels above.
    assert costs[0] <= 5 + 5 + 5 * 5
    assert costs[1] <= 5 + 5 + 5 * 5
