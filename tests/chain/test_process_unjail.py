"""process_unjail."""

from __future__ import annotations

from chain.core.containers import Unjail
from chain.core.errors import NotAProducer, NotJailed, StillJailed
from tests.helpers.assertions import rejected_with
from tests.helpers.chain import ChainSim, make_tx


def test_unjail_after_the_jail_period_and_rejoin_schedule(sim: ChainSim) -> None:
    sim.produce_until_jailed("alpha")
    until = sim.state.producers["alpha"].jailed_until
    slot = sim.state.slot + 1
    while sim.producer_at(slot) == "alpha":
        slot += 1
    exc = rejected_with(sim.state, make_tx(sim.state, "alpha", Unjail()), slot=slot)
    assert isinstance(exc, StillJailed) and f"until slot {until}" in exc.message
    # produce until the jail period is over (alpha is out of the schedule by then)
    sim.produce_all_but("alpha", until)
    assert sim.state.chain.schedule == ("beta", "gamma")
    sim.produce(txs=[make_tx(sim.state, "alpha", Unjail())])
    assert not sim.state.producers["alpha"].jailed
    assert sim.state.chain.pending_schedule == ("alpha", "beta", "gamma")
    for _ in range(80):
        sim.produce()
    assert sim.state.chain.schedule == ("alpha", "beta", "gamma")


def test_unjail_rejections(sim: ChainSim) -> None:
    exc = rejected_with(sim.state, make_tx(sim.state, "alpha", Unjail()))
    assert isinstance(exc, NotJailed)
    exc = rejected_with(sim.state, make_tx(sim.state, "alice", Unjail()))
    assert isinstance(exc, NotAProducer)
