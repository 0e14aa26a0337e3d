"""process_stake: delegation, schedule effect."""

from __future__ import annotations

from chain.core.containers import RegisterProducer, Stake
from chain.core.errors import InsufficientBalance, NotAProducer
from tests.helpers.assertions import assert_consistent, rejected_with
from tests.helpers.chain import ChainSim, make_tx


def test_stake_moves_balance_into_delegation(sim: ChainSim) -> None:
    before = sim.state.accounts["alice"].balance
    stake = sim.state.producers["beta"].stake
    sim.produce(1, [make_tx(sim.state, "alice", Stake("beta", 5_0000), fee=10)])
    beta = sim.state.producers["beta"]
    assert beta.stake == stake + 5_0000
    assert ("alice", 5_0000) in beta.delegations
    assert sim.state.accounts["alice"].balance == before - 5_0000 - 10
    sim.produce(2, [make_tx(sim.state, "alice", Stake("beta", 1))])
    assert ("alice", 5_0001) in sim.state.producers["beta"].delegations
    assert_consistent(sim.state, sim.genesis.initial_supply)


def test_stake_makes_a_new_producer_pending(sim: ChainSim) -> None:
    sim.produce(1, [make_tx(sim.state, "alice", RegisterProducer())])
    sim.produce(2, [make_tx(sim.state, "alice", Stake("alice", 2_0000))])
    assert sim.state.chain.pending_schedule == ("alice", "alpha", "beta", "gamma")
    assert sim.state.chain.pending_height == 2


def test_top_n_by_stake_sorted_by_name() -> None:
    from tests.chain.conftest import small_params
    from tests.helpers.chain import make_genesis

    sim = ChainSim(make_genesis(params=small_params(max_producers=2)))
    assert sim.state.chain.schedule == ("alpha", "beta")  # equal stake: name breaks the tie
    sim.produce(1, [make_tx(sim.state, "alice", Stake("gamma", 1))])
    assert sim.state.chain.pending_schedule == ("alpha", "gamma")


def test_stake_rejections(sim: ChainSim) -> None:
    exc = rejected_with(sim.state, make_tx(sim.state, "alice", Stake("bob", 1)))
    assert isinstance(exc, NotAProducer) and "bob is not a registered producer" in exc.message
    exc = rejected_with(sim.state, make_tx(sim.state, "alice", Stake("beta", 2**61)))
    assert isinstance(exc, InsufficientBalance) and "the stake" in exc.message
