"""process_block_rewards: block reward minted + fees to the producer (the pool for pool blocks)."""

from __future__ import annotations

from tests.helpers.assertions import assert_consistent
from tests.helpers.chain import ChainSim, transfer


def test_reward_and_fees_go_to_the_producer(sim: ChainSim) -> None:
    before = sim.state.accounts["alpha"].balance
    txs = [
        transfer(sim.state, "alice", "bob", 1, fee=7),
        transfer(sim.state, "bob", "carol", 1, fee=3),
    ]
    sim.produce(1, txs)
    reward = sim.state.params.block_reward
    assert sim.state.accounts["alpha"].balance == before + reward + 10
    assert sim.state.chain.minted == reward
    assert_consistent(sim.state, sim.genesis.initial_supply)


def test_member_built_block_pays_the_producer_not_the_builder(sim: ChainSim) -> None:
    alice = sim.state.accounts["alice"].balance
    alpha = sim.state.accounts["alpha"].balance
    sim.produce(1, [transfer(sim.state, "bob", "carol", 1, fee=5)], builder="alice")
    assert sim.state.accounts["alice"].balance == alice
    assert sim.state.accounts["alpha"].balance == alpha + sim.state.params.block_reward + 5


def test_producer_income_matches_the_balance_change(sim: ChainSim) -> None:
    from chain.core.containers import CreateAccount
    from chain.core.transition import compute_producer_income
    from tests.helpers.chain import key_for, make_tx

    before = sim.state.accounts["alpha"].balance
    block = sim.produce(
        1,
        [
            transfer(sim.state, "alice", "bob", 5, fee=13),
            make_tx(sim.state, "bob", CreateAccount("dave", key_for("dave").public_key), fee=4),
        ],
    )
    income = compute_producer_income(block, sim.state.params)
    assert income == sim.state.params.block_reward + 17 + sim.state.params.account_creation_fee
    assert sim.state.accounts["alpha"].balance - before == income
