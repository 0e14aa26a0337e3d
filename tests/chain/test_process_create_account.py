"""process_create_account."""

from __future__ import annotations

from chain.core.containers import CreateAccount
from chain.core.errors import AccountExists, InsufficientBalance
from tests.helpers.assertions import assert_consistent, rejected_with
from tests.helpers.chain import ChainSim, key_for, make_tx, transfer


def test_create_account_charges_the_creation_fee_to_the_producer(sim: ChainSim) -> None:
    fee = sim.state.params.account_creation_fee
    alice = sim.state.accounts["alice"].balance
    producer = sim.state.accounts["alpha"].balance
    tx = make_tx(sim.state, "alice", CreateAccount("dave", key_for("dave").public_key), fee=10)
    sim.produce(1, [tx])
    assert sim.state.accounts["dave"].balance == 0
    assert sim.state.accounts["alice"].balance == alice - fee - 10
    assert sim.state.accounts["alpha"].balance == producer + fee + 10 + sim.state.params.block_reward
    # the new account can receive and then send
    sim.produce(2, [transfer(sim.state, "alice", "dave", 100)])
    sim.produce(3, [transfer(sim.state, "dave", "bob", 50, fee=1)])
    assert sim.state.accounts["dave"].balance == 49
    assert_consistent(sim.state, sim.genesis.initial_supply)


def test_create_existing_account_is_rejected(sim: ChainSim) -> None:
    exc = rejected_with(sim.state, make_tx(sim.state, "alice", CreateAccount("bob", "ab" * 32)))
    assert isinstance(exc, AccountExists) and "already exists" in exc.message


def test_create_account_needs_the_fee(sim: ChainSim) -> None:
    tx = make_tx(sim.state, "alice", CreateAccount("dave", key_for("dave").public_key))
    sim.produce(1, [make_tx(sim.state, "alice", CreateAccount("erin", key_for("erin").public_key))])
    sim.produce(2, [transfer(sim.state, "alice", "erin", 2)])
    tx = make_tx(sim.state, "erin", CreateAccount("dave", key_for("dave").public_key), fee=1)
    exc = rejected_with(sim.state, tx)
    assert isinstance(exc, InsufficientBalance) and "creation fee" in exc.message
