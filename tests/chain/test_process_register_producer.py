"""process_register_producer."""

from __future__ import annotations

from chain.core.containers import DoubleProductionEvidence, RegisterProducer
from chain.core.errors import Tombstoned
from tests.helpers.assertions import rejected_with
from tests.helpers.chain import ChainSim, double_sign, make_tx


def test_register_then_update_url(sim: ChainSim) -> None:
    sim.produce(1, [make_tx(sim.state, "alice", RegisterProducer("https://a.example"))])
    p = sim.state.producers["alice"]
    assert (p.url, p.stake, p.jailed) == ("https://a.example", 0, False)
    sim.produce(2, [make_tx(sim.state, "alice", RegisterProducer("https://b.example"))])
    assert sim.state.producers["alice"].url == "https://b.example"


def test_unstaked_producer_is_not_scheduled(sim: ChainSim) -> None:
    sim.produce(1, [make_tx(sim.state, "alice", RegisterProducer())])
    assert "alice" not in sim.state.chain.schedule
    assert sim.state.chain.pending_schedule == ()


def test_tombstoned_producer_cannot_register_again(sim: ChainSim) -> None:
    first, second = double_sign(sim, "beta", 13)
    sim.produce(1, [make_tx(sim.state, "alice", DoubleProductionEvidence(first, second))])
    exc = rejected_with(sim.state, make_tx(sim.state, "beta", RegisterProducer("x")))
    assert isinstance(exc, Tombstoned)
