"""process_schedule: proposals become pending and activate at a round boundary after LIB."""

from __future__ import annotations

from chain.core.containers import RegisterProducer, Stake, Unstake
from chain.core.schedule import get_next_slots_of, get_schedule_at, get_scheduled_producer
from tests.helpers.chain import ChainSim, make_tx


def add_producer(sim: ChainSim, name: str = "alice") -> int:
    sim.produce(txs=[make_tx(sim.state, name, RegisterProducer())])
    sim.produce(txs=[make_tx(sim.state, name, Stake(name, 5_0000))])
    return sim.state.height


def test_pending_waits_for_irreversibility_then_a_round_boundary(sim: ChainSim) -> None:
    proposed_at = add_producer(sim)
    meta = sim.state.chain
    assert meta.pending_schedule == ("alice", "alpha", "beta", "gamma")
    assert meta.pending_height == proposed_at
    while sim.state.chain.lib_height < proposed_at:
        sim.produce()
        assert sim.state.chain.schedule == ("alpha", "beta", "gamma")
    # irreversible now: prediction says the next boundary switches
    boundary = (sim.state.slot // 36 + 1) * 36
    assert get_schedule_at(sim.state, boundary - 1) == ("alpha", "beta", "gamma")
    assert get_schedule_at(sim.state, boundary) == ("alice", "alpha", "beta", "gamma")
    expected_owner = get_scheduled_producer(sim.state, boundary)
    sim.produce_all_but("nobody", boundary)
    assert sim.state.chain.schedule == ("alice", "alpha", "beta", "gamma")
    assert sim.state.chain.schedule_version == 2
    assert sim.blocks[-1].header.producer == expected_owner


def test_proposal_reverting_to_active_cancels_pending(sim: ChainSim) -> None:
    add_producer(sim)
    assert sim.state.chain.pending_schedule
    sim.produce(txs=[make_tx(sim.state, "alice", Unstake("alice", 5_0000))])
    assert sim.state.chain.pending_schedule == ()


def test_next_slots_of_a_producer(sim: ChainSim) -> None:
    assert get_next_slots_of(sim.state, "beta", 0, 3) == [12, 13, 14]
    assert get_next_slots_of(sim.state, "alpha", 5, 8) == [6, 7, 8, 9, 10, 11, 36, 37]
    assert get_next_slots_of(sim.state, "nobody", 0, 1) == []
