"""process_unstake: unbonding entries."""

from __future__ import annotations

from chain.core.containers import Stake, Unstake
from chain.core.errors import InsufficientStake, NotAProducer
from tests.helpers.assertions import assert_consistent, rejected_with
from tests.helpers.chain import ChainSim, make_tx


def test_unstake_creates_unbonding_entry(sim: ChainSim) -> None:
    sim.produce(1, [make_tx(sim.state, "alice", Stake("beta", 5_0000))])
    sim.produce(2, [make_tx(sim.state, "alice", Unstake("beta", 2_0000))])
    assert ("alice", 3_0000) in sim.state.producers["beta"].delegations
    entries = sim.state.unbonding["alice"].entries
    assert entries == (("beta", 2_0000, 2, 2 + sim.state.params.unbonding_slots),)
    sim.produce(3, [make_tx(sim.state, "alice", Unstake("beta", 3_0000))])
    assert all(d != "alice" for d, _ in sim.state.producers["beta"].delegations)
    assert len(sim.state.unbonding["alice"].entries) == 2
    assert_consistent(sim.state, sim.genesis.initial_supply)


def test_unstake_rejections(sim: ChainSim) -> None:
    exc = rejected_with(sim.state, make_tx(sim.state, "alice", Unstake("beta", 1)))
    assert isinstance(exc, InsufficientStake) and "has 0 delegated" in exc.message
    exc = rejected_with(sim.state, make_tx(sim.state, "alice", Unstake("nobody", 1)))
    assert isinstance(exc, NotAProducer)


def test_self_unstake_below_minimum_leaves_the_schedule(sim: ChainSim) -> None:
    stake = sim.state.producers["gamma"].stake
    sim.produce(1, [make_tx(sim.state, "gamma", Unstake("gamma", stake))])
    assert sim.state.chain.pending_schedule == ("alpha", "beta")
