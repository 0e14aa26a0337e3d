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


def test_keep_leaves_exactly_what_state_transition_leaves() -> None:
    from chain.core import Store, create_genesis_state
    from tests.helpers.chain import make_genesis

    genesis = make_genesis()
    reference = ChainSim(genesis)
    block = reference.produce(1, [transfer(reference.state, "alice", "bob", 5)])
    state = create_genesis_state(genesis)
    store = Store(state)
    built = build_block(
        state,
        slot=1,
        producer="alpha",
        transactions=[transfer(state, "alice", "bob", 5)],
        keep=True,
    )
    assert built.block.id == block.id and built.undo
    assert compute_state_root(state) == compute_state_root(reference.state)
    result = store.adopt(built.block.signed_by_producer(key_for("alpha")), built.undo)
    assert result.status == "applied" and store.get_head() == block.id
    assert state.head_id == block.id
    # the adopted block can be undone like any other (a reorg)
    other = ChainSim(genesis)
    rival = other.produce(2)
    store.on_block(rival)
    assert store.get_head() in (block.id, rival.id)
