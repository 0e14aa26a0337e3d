"""process_block_header: chain, height, parent, timestamp, producer, size."""

from __future__ import annotations

from dataclasses import replace

import pytest

from chain.core import (
    Block,
    ChainParams,
    compute_full_state_root,
    compute_state_root,
    state_transition,
)
from chain.core.errors import (
    BlockTooLarge,
    WrongChain,
    WrongHeight,
    WrongParent,
    WrongProducer,
    WrongTimestamp,
)
from tests.helpers.chain import ChainSim, key_for, make_genesis, transfer


def resign(block: Block, **header_changes: object) -> Block:
    header = replace(block.header, **header_changes)
    return Block(header, block.transactions).signed_by_producer(key_for(header.producer))


def test_valid_header_is_accepted(sim: ChainSim) -> None:
    block = sim.make_block(1)
    state_transition(sim.state, block, sim.cache)
    assert sim.state.height == 1 and sim.state.head_id == block.id


@pytest.mark.parametrize(
    ("changes", "error", "message"),
    [
        ({"chain_id": "ab" * 32}, WrongChain, "block is for chain"),
        ({"height": 2}, WrongHeight, "does not follow"),
        ({"prev_id": "cd" * 32}, WrongParent, "is not the head"),
        ({"timestamp": 1}, WrongTimestamp, "is not slot 1"),
        ({"producer": "beta"}, WrongProducer, "belongs to alpha"),
    ],
)
def test_header_rejections(sim: ChainSim, changes: dict, error: type, message: str) -> None:
    root = compute_state_root(sim.state)
    block = resign(sim.make_block(1), **changes)
    with pytest.raises(error, match=message):
        state_transition(sim.state, block, sim.cache)
    assert compute_state_root(sim.state) == root == compute_full_state_root(sim.state)
    assert sim.state.height == 0 and sim.state.slot == 0


def test_too_many_transactions() -> None:
    from tests.chain.conftest import small_params

    params = small_params(max_block_transactions=1)
    assert isinstance(params, ChainParams)
    sim = ChainSim(make_genesis(params=params))
    txs = [transfer(sim.state, "alice", "bob", 1, nonce=n) for n in range(2)]
    built = sim.make_block(1, txs)
    assert len(built.transactions) == 1  # the builder respects the limit
    block = Block(replace(built.header), tuple(txs)).signed_by_producer(key_for("alpha"))
    with pytest.raises(BlockTooLarge, match="exceed 1"):
        state_transition(sim.state, block, sim.cache)
