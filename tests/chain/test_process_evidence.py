"""process_evidence: double production -> 5 % slash + tombstone, reaching unbonding stake."""

from __future__ import annotations

from dataclasses import replace

import pytest

from chain.core.containers import DoubleProductionEvidence, SignedHeader, Stake, Unjail, Unstake
from chain.core.errors import InvalidEvidence, Tombstoned
from tests.helpers.assertions import assert_consistent, rejected_with
from tests.helpers.chain import ChainSim, double_sign, key_for, make_tx


def test_evidence_slashes_five_percent_and_tombstones(sim: ChainSim) -> None:
    sim.produce(1, [make_tx(sim.state, "alice", Stake("beta", 10_0000))])
    beta = sim.state.producers["beta"]
    first, second = double_sign(sim, "beta", 13)
    sim.produce(2, [make_tx(sim.state, "carol", DoubleProductionEvidence(first, second))])
    after = sim.state.producers["beta"]
    assert after.tombstoned and after.jailed
    expected = {d: a - a * 500 // 10_000 for d, a in beta.delegations}
    assert dict(after.delegations) == expected
    assert sim.state.chain.burned == sum(a * 500 // 10_000 for _, a in beta.delegations)
    assert sim.state.chain.pending_schedule == ("alpha", "gamma")
    assert_consistent(sim.state, sim.genesis.initial_supply)


def test_slash_reaches_unbonding_created_after_the_infraction(sim: ChainSim) -> None:
    sim.produce(1, [make_tx(sim.state, "alice", Stake("beta", 10_0000))])
    sim.produce(2, [make_tx(sim.state, "alice", Unstake("beta", 4_0000))])  # before infraction
    first, second = double_sign(sim, "beta", 5)
    sim.produce(6, [make_tx(sim.state, "alice", Unstake("beta", 2_0000))])  # after infraction
    sim.produce(7, [make_tx(sim.state, "carol", DoubleProductionEvidence(first, second))])
    entries = sim.state.unbonding["alice"].entries
    assert entries[0] == ("beta", 4_0000, 2, 52)  # created before slot 5: untouched
    assert entries[1] == ("beta", 2_0000 - 2_0000 * 500 // 10_000, 6, 56)
    assert_consistent(sim.state, sim.genesis.initial_supply)


def test_tombstoned_producer_never_unjails(sim: ChainSim) -> None:
    first, second = double_sign(sim, "beta", 13)
    sim.produce(1, [make_tx(sim.state, "carol", DoubleProductionEvidence(first, second))])
    exc = rejected_with(sim.state, make_tx(sim.state, "beta", Unjail()), slot=2)
    assert isinstance(exc, Tombstoned)
    exc = rejected_with(sim.state, make_tx(sim.state, "alice", Stake("beta", 1)), slot=2)
    assert isinstance(exc, Tombstoned)


def _signed(header, signer: str = "beta") -> SignedHeader:
    return SignedHeader(header, key_for(signer).sign(b"bppool/block/v1", header.canonical))


@pytest.mark.parametrize(
    ("tamper", "message"),
    [
        (lambda a, b: (a, a), "same block"),
        (lambda a, b: (a, _signed(replace(b.header, slot=14))), "differ in slot"),
        (
            lambda a, b: (a, _signed(replace(b.header, producer="gamma"))),
            "differ in slot or producer",
        ),
        (lambda a, b: (a, _signed(replace(b.header, chain_id="ab" * 32))), "not from this chain"),
        (lambda a, b: (a, _signed(b.header, "gamma")), "not beta's"),
        (lambda a, b: (a, SignedHeader(b.header, "00" * 64)), "not beta's"),
    ],
)
def test_invalid_evidence(sim: ChainSim, tamper, message: str) -> None:
    first, second = double_sign(sim, "beta", 13)
    a, b = tamper(first, second)
    exc = rejected_with(sim.state, make_tx(sim.state, "carol", DoubleProductionEvidence(a, b)))
    assert isinstance(exc, InvalidEvidence) and message in exc.message


def test_evidence_is_used_once_and_must_be_recent(sim: ChainSim) -> None:
    first, second = double_sign(sim, "beta", 13)
    sim.produce(1, [make_tx(sim.state, "carol", DoubleProductionEvidence(first, second))])
    exc = rejected_with(sim.state, make_tx(sim.state, "carol", DoubleProductionEvidence(first, second)))
    assert isinstance(exc, InvalidEvidence) and "already tombstoned" in exc.message
    first, second = double_sign(sim, "gamma", 2)
    exc = rejected_with(
        sim.state, make_tx(sim.state, "carol", DoubleProductionEvidence(first, second)), slot=1100
    )
    assert isinstance(exc, InvalidEvidence) and "older than" in exc.message
