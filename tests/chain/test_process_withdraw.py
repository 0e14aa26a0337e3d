"""process_withdraw: matured unbonding entries only."""

from __future__ import annotations

from chain.core.containers import Stake, Unstake, Withdraw
from chain.core.errors import NothingToWithdraw
from tests.helpers.assertions import assert_consistent, rejected_with
from tests.helpers.chain import ChainSim, make_tx


def test_withdraw_after_unbonding_period(sim: ChainSim) -> None:
    sim.produce(1, [make_tx(sim.state, "alice", Stake("beta", 5_0000))])
    sim.produce(2, [make_tx(sim.state, "alice", Unstake("beta", 2_0000))])
    sim.produce(3, [make_tx(sim.state, "alice", Unstake("beta", 1_0000))])
    exc = rejected_with(sim.state, make_tx(sim.state, "alice", Withdraw()))
    assert isinstance(exc, NothingToWithdraw) and "matures at slot 52" in exc.message
    before = sim.state.accounts["alice"].balance
    sim.produce(52, [make_tx(sim.state, "alice", Withdraw(), fee=10)])
    assert sim.state.accounts["alice"].balance == before + 2_0000 - 10
    assert sim.state.unbonding["alice"].entries == (("beta", 1_0000, 3, 53),)
    sim.produce(60, [make_tx(sim.state, "alice", Withdraw(), fee=10)])
    assert "alice" not in sim.state.unbonding
    assert_consistent(sim.state, sim.genesis.initial_supply)


def test_withdraw_with_nothing_unbonding(sim: ChainSim) -> None:
    exc = rejected_with(sim.state, make_tx(sim.state, "alice", Withdraw()))
    assert isinstance(exc, NothingToWithdraw) and "no unbonding entry" in exc.message
