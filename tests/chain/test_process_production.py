"""process_production: liveness record and the LIB (> 2/3 of active producers built on it)."""

from __future__ import annotations

from chain.core.schedule import compute_lib_height
from tests.chain.conftest import small_params
from tests.helpers.chain import ChainSim, make_genesis


def test_produced_slot_is_recorded(sim: ChainSim) -> None:
    sim.produce(1)
    alpha = sim.state.producers["alpha"]
    assert (alpha.produced_total, alpha.window, alpha.last_produced_height) == (1, "0", 1)


def test_lib_needs_all_three_of_three() -> None:
    sim = ChainSim(make_genesis(params=small_params()))
    for _ in range(11):  # slots 1-11 are alpha's (slot 0 is genesis)
        sim.produce()
    assert sim.state.chain.lib_height == 0  # only alpha has produced
    for _ in range(12):  # slots 12-23: beta
        sim.produce()
    assert sim.state.chain.lib_height == 0  # alpha and beta: 2 of 3 is not more than 2/3
    sim.produce()  # slot 24: gamma's first block
    assert sim.state.chain.lib_height == 11  # the lowest of the three last-produced heights
    assert sim.state.lib_id == sim.blocks[10].id


def test_lib_with_four_producers_needs_three() -> None:
    sim = ChainSim(make_genesis(("p1", "p2", "p3", "p4"), params=small_params()))
    for _ in range(36):  # p1: 1-11, p2: 12-23, p3: 24-35, p4: 36
        sim.produce()
    assert sim.state.chain.lib_height == 23  # 3 of 4 > 2/3: the third highest is p2's 23
    assert compute_lib_height(sim.state) == 23


def test_jailed_producers_do_not_count_towards_lib(sim: ChainSim) -> None:
    """With alpha jailed, beta and gamma alone finalize (see docs/chain.md)."""
    sim.produce_until_jailed("alpha")
    lib = sim.state.chain.lib_height
    sim.produce_all_but("alpha", sim.state.slot + 36)
    assert sim.state.chain.lib_height > lib


def test_lib_never_decreases(sim: ChainSim) -> None:
    seen = 0
    for _ in range(80):
        sim.produce()
        assert sim.state.chain.lib_height >= seen
        seen = sim.state.chain.lib_height
