"""build_block: assembles valid blocks and leaves the state unchanged."""

from __future__ import annotations

import pytest

from chain.core import build_block, compute_state_root, state_transition
from chain.core.errors import NonceMismatch, WrongProducer
from tests.helpers.chain import ChainSim, key_for, transfer


def test_build_skips_failing_transactions_and_keeps_state(sim: ChainSim) -> None:
    root = compute_state_root(sim.state)
    txs = [
        transfer(sim.state, "alice", "bob", 5, nonce=0),
        transfer(sim.state, "alice", "bob", 5, nonce=0),  # duplicate nonce
        transfer(sim.state, "alice", "bob", 5, nonce=1),
    ]
    built = build_block(sim.state, slot=1, producer="alpha", transactions=txs, sig_cache=sim.cache)
    assert [t.nonce for t in built.block.transactions] == [0, 1]
    assert isinstance(built.rejected[0][1], NonceMismatch)
    assert compute_state_root(sim.state) == root and sim.state.height == 0
    state_transition(sim.state, built.block.signed_by_producer(key_for("alpha")), sim.cache)
    assert sim.state.accounts["alice"].nonce == 2


def test_build_respects_the_transaction_limit(sim: ChainSim) -> None:
    txs = [transfer(sim.state, "alice", "bob", 1, nonce=n) for n in range(5)]
    built = build_block(sim.state, slot=1, producer="alpha", transactions=txs, max_transactions=3)
    assert len(built.block.transactions) == 3


def test_build_for_another_producers_slot_is_refused(sim: ChainSim) -> None:
    with pytest.raises(WrongProducer, match="belongs to alpha"):
        build_block(sim.state, slot=1, producer="beta")
    assert sim.state.slot == 0
