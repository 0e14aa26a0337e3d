"""The journaled state: checkpoints, revert, undo logs and the incremental root."""

from __future__ import annotations

import random

from chain.core import compute_full_state_root, compute_state_root
from chain.core.state import Account
from tests.helpers.chain import ChainSim


def test_revert_restores_puts_and_deletes(sim: ChainSim) -> None:
    state = sim.state
    root = compute_state_root(state)
    cp = state.checkpoint()
    state.accounts.put("zed", Account("ab" * 32, 1, 0))
    state.accounts.put("alice", Account("ab" * 32, 0, 9))
    state.accounts.delete("bob")
    assert compute_state_root(state) != root
    state.revert(cp)
    assert "zed" not in state.accounts and "bob" in state.accounts
    assert compute_state_root(state) == root == compute_full_state_root(state)


def test_random_writes_and_reverts_keep_the_root_exact(sim: ChainSim) -> None:
    rng = random.Random(3)
    state = sim.state
    for _ in range(50):
        cp = state.checkpoint()
        for _ in range(rng.randint(1, 20)):
            name = rng.choice(["alice", "bob", "carol", "dave", "erin"])
            if rng.random() < 0.2:
                state.accounts.delete(name)
            else:
                state.accounts.put(name, Account("ab" * 32, rng.randint(0, 100), 0))
        if rng.random() < 0.5:
            state.revert(cp)
        assert compute_state_root(state) == compute_full_state_root(state)


def test_uncommitted_table_is_outside_the_root(sim: ChainSim) -> None:
    root = compute_state_root(sim.state)
    sim.state.blocks.put("99", sim.state.blocks["0"])
    assert compute_state_root(sim.state) == root


def test_snapshot_and_restore_step_over_a_block(sim: ChainSim) -> None:
    from chain.core import state_transition
    from tests.helpers.chain import transfer

    sim.produce(1)
    parent_root = compute_state_root(sim.state)
    block = sim.make_block(2, [transfer(sim.state, "alice", "bob", 5)])
    undo = state_transition(sim.state, block, sim.cache)
    child_root = compute_state_root(sim.state)
    forward = sim.state.snapshot(undo)
    sim.state.undo(undo)
    assert compute_state_root(sim.state) == parent_root
    sim.state.restore(forward)
    assert compute_state_root(sim.state) == child_root == compute_full_state_root(sim.state)
    assert sim.state.head_id == block.id
