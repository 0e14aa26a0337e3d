"""process_transfer."""

from __future__ import annotations

import pytest

from chain.core.containers import Transfer
from chain.core.errors import InsufficientBalance, MalformedTransaction, UnknownAccount
from tests.helpers.assertions import assert_consistent, rejected_with
from tests.helpers.chain import ChainSim, make_tx, transfer


def test_transfer_moves_tokens(sim: ChainSim) -> None:
    a, b = sim.state.accounts["alice"].balance, sim.state.accounts["bob"].balance
    sim.produce(1, [transfer(sim.state, "alice", "bob", 12_3456, fee=10)])
    assert sim.state.accounts["alice"].balance == a - 12_3456 - 10
    assert sim.state.accounts["bob"].balance == b + 12_3456
    assert_consistent(sim.state, sim.genesis.initial_supply)


def test_transfer_to_self_only_costs_the_fee(sim: ChainSim) -> None:
    a = sim.state.accounts["alice"].balance
    sim.produce(1, [transfer(sim.state, "alice", "alice", 5, fee=10)])
    assert sim.state.accounts["alice"].balance == a - 10


@pytest.mark.parametrize(
    ("action", "error", "message"),
    [
        (Transfer("nobody", 1), UnknownAccount, "nobody does not exist"),
        (Transfer("bob", 2**61), InsufficientBalance, "the transfer needs"),
        (Transfer("bob", 1, "x" * 300), MalformedTransaction, "memo longer"),
    ],
)
def test_transfer_rejections(sim: ChainSim, action: Transfer, error: type, message: str) -> None:
    exc = rejected_with(sim.state, make_tx(sim.state, "alice", action))
    assert isinstance(exc, error) and message in exc.message
