"""Assertions shared by chain tests."""

from __future__ import annotations

from chain.core import State, Transaction, build_block, compute_full_state_root, compute_state_root
from chain.core.errors import InvalidTransaction
from chain.core.helpers import compute_total_supply


def rejected_with(state: State, tx: Transaction, slot: int | None = None) -> InvalidTransaction:
    """Build a block holding ``tx`` alone and return why the transaction was left out."""
    from chain.core.schedule import get_scheduled_producer

    slot = state.slot + 1 if slot is None else slot
    built = build_block(state, slot=slot, producer=get_scheduled_producer(state, slot), transactions=[tx])
    assert not built.block.transactions, "transaction was accepted"
    return built.rejected[0][1]


def assert_consistent(state: State, genesis_supply: int) -> None:
    """Incremental root equals a from-scratch root; supply is conserved."""
    assert compute_state_root(state) == compute_full_state_root(state)
    meta = state.chain
    assert compute_total_supply(state) == genesis_supply + meta.minted - meta.burned
