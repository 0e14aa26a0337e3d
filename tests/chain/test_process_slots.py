"""process_slots: missed-slot accounting, downtime jail + slash, schedule activation."""

from __future__ import annotations

import pytest

from chain.core.errors import WrongSlot
from chain.core.schedule import get_scheduled_producer
from chain.core.transition import process_slots
from tests.helpers.chain import ChainSim


def test_slot_must_move_forward(sim: ChainSim) -> None:
    sim.produce(5)
    with pytest.raises(WrongSlot, match="not after"):
        process_slots(sim.state, 5)
    with pytest.raises(WrongSlot):
        process_slots(sim.state, 3)


def test_every_skipped_slot_counts_as_missed_by_its_owner(sim: ChainSim) -> None:
    owners = [get_scheduled_producer(sim.state, s) for s in range(1, 30)]
    sim.produce(30)
    for name in ("alpha", "beta", "gamma"):
        assert sim.state.producers[name].missed_total == owners.count(name)
    assert sum(p.missed_total for p in sim.state.producers.rows.values()) == 29


def test_missed_slots_fill_the_liveness_window(sim: ChainSim) -> None:
    # alpha owns slots 0-11 of every 36; skip alpha's slots 1..11 and produce the rest
    sim.produce(12)
    alpha = sim.state.producers["alpha"]
    assert alpha.window == "1" * 11 and alpha.window_missed == 11
    assert not alpha.jailed


def test_downtime_jails_and_slashes_one_percent() -> None:
    from tests.chain.conftest import small_params
    from tests.helpers.chain import make_genesis

    sim = ChainSim(make_genesis(params=small_params()))
    stake_before = sim.state.producers["alpha"].stake
    # Keep beta and gamma producing while alpha never does: its window fills with misses.
    sim.produce_until_jailed("alpha")
    alpha = sim.state.producers["alpha"]
    # alpha owns slots 0-11, 36-47, 72-83 ...: its 24th own slot after genesis (slot 72)
    # fills the window with 24 misses > 24 - 12, so it is jailed there for 100 slots; the
    # rest of that window (73-83) is still counted as missed while jailed.
    assert alpha.jailed_until == 72 + 100
    assert alpha.missed_total == 35
    assert alpha.stake == stake_before - stake_before // 100
    assert sim.state.chain.burned == stake_before // 100


def test_jailed_producer_leaves_schedule_at_a_round_boundary_after_lib(sim: ChainSim) -> None:
    slot = sim.produce_until_jailed("alpha")
    meta = sim.state.chain
    assert meta.pending_schedule == ("beta", "gamma")
    assert meta.schedule == ("alpha", "beta", "gamma")
    # Keep producing; the new schedule activates at the first boundary after LIB passes it.
    while sim.state.chain.schedule != ("beta", "gamma"):
        slot += 1
        if sim.producer_at(slot) != "alpha":
            sim.produce(slot)
    meta = sim.state.chain
    assert meta.schedule_version == 2 and meta.pending_schedule == ()
    assert sim.state.slot % 36 < 24  # activated at the start of a round (alpha's window was first)


def test_jailed_producer_slots_are_not_held_against_its_window(sim: ChainSim) -> None:
    slot = sim.produce_until_jailed("alpha")
    missed = sim.state.producers["alpha"].missed_total
    sim.produce(slot + 40)  # spans alpha's next window, still in the old schedule
    alpha = sim.state.producers["alpha"]
    assert alpha.missed_total > missed
    assert alpha.window == "" and alpha.window_missed == 0
