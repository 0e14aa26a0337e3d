"""Outcomes: a block applied by the known outcome of a block of the same content leaves exactly
what a state transition leaves, and anything that is not that content is refused."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from chain.client.decoding import BlockDecoder
from chain.core import (
    Block,
    State,
    build_block,
    compute_full_state_root,
    compute_state_root,
    state_transition,
)
from chain.core.codec import canonical_bytes_trusted
from chain.core.errors import BadBuilderSignature, TxRootMismatch
from chain.core.outcomes import Outcomes, content_key
from chain.core.txcache import TransactionCache
from tests.helpers.chain import ChainSim, key_for, transfer


def rows(state: State) -> dict[str, dict[str, Any]]:
    return {name: dict(table.rows) for name, table in state.tables.items()}


def expected_and_candidate(sim: ChainSim, builder: str = "bob") -> tuple[Block, list[Any], Block]:
    """The producer's own block for slot 1 applied and remembered (as the emitter does with
    the block it expects), then the parent restored; and a member's candidate of the same
    content."""
    txs = [transfer(sim.state, "alice", "bob", 3, nonce=n) for n in range(4)]
    producer = sim.producer_at(1)
    built = build_block(
        sim.state, slot=1, producer=producer, transactions=txs, sig_cache=sim.cache, keep=True
    )
    assert built.undo is not None
    candidate = Block(replace(built.block.header, builder=builder), built.block.transactions)
    return built.block, built.undo, candidate.signed_by_builder(key_for(builder))


def remembered(sim: ChainSim) -> tuple[Outcomes, Block, Block]:
    """:func:`expected_and_candidate` with the expected block's outcome remembered and the
    parent restored: the outcomes, the expected block and the candidate."""
    expected, undo, candidate = expected_and_candidate(sim)
    outcomes = Outcomes()
    outcomes.remember(sim.state, expected, undo)
    sim.state.undo(undo)
    return outcomes, expected, candidate


def test_a_candidate_of_known_content_applies_exactly_as_a_state_transition(sim: ChainSim) -> None:
    outcomes, expected, candidate = remembered(sim)
    parent = rows(sim.state)

    known = outcomes.find(sim.state, candidate)
    assert known is not None
    fast_undo = outcomes.apply(sim.state, candidate, known, producer_signature=False)
    fast = rows(sim.state)
    fast_root = compute_full_state_root(sim.state)
    assert compute_state_root(sim.state) == fast_root == candidate.header.state_root
    assert sim.state.head_id == candidate.id  # the candidate's own id, not the expected block's

    sim.state.undo(fast_undo)
    assert rows(sim.state) == parent
    full_undo = state_transition(sim.state, candidate, sim.cache, producer_signature=False)
    assert rows(sim.state) == fast
    assert sorted(map(repr, full_undo)) == sorted(map(repr, fast_undo))


def test_a_body_that_is_not_the_headers_is_refused_and_the_state_untouched(sim: ChainSim) -> None:
    outcomes, _, candidate = remembered(sim)
    parent = rows(sim.state)
    # Same header (so the same content key), but one transaction dropped from the body
    tampered = Block(
        candidate.header, candidate.transactions[:-1], builder_signature=candidate.builder_signature
    )
    known = outcomes.find(sim.state, tampered)
    assert known is not None
    with pytest.raises(TxRootMismatch):
        outcomes.apply(sim.state, tampered, known, producer_signature=False)
    assert rows(sim.state) == parent


def test_a_bad_builder_signature_is_refused(sim: ChainSim) -> None:
    outcomes, _, candidate = remembered(sim)
    forged = candidate.with_signatures(builder_signature=key_for("carol").sign(b"bppool/candidate/v1", b"x"))
    known = outcomes.find(sim.state, forged)
    assert known is not None
    with pytest.raises(BadBuilderSignature):
        outcomes.apply(sim.state, forged, known, producer_signature=False)


def test_other_content_or_another_parent_finds_nothing(sim: ChainSim) -> None:
    expected, undo, candidate = expected_and_candidate(sim)
    outcomes = Outcomes()
    outcomes.remember(sim.state, expected, undo)
    other = Block(replace(candidate.header, state_root="00" * 32), candidate.transactions)  # type: ignore[arg-type]
    assert outcomes.find(sim.state, other) is None  # the state is still at the expected block
    sim.state.undo(undo)
    assert outcomes.find(sim.state, other) is None  # a different claimed root
    assert content_key(candidate.header) == content_key(expected.header)  # builder aside


def test_a_decoded_list_is_recognised_without_recomputing_the_root(sim: ChainSim) -> None:
    outcomes, expected, candidate = remembered(sim)
    decoder = BlockDecoder(TransactionCache(), 100)
    decoder.expect(expected)
    decoded = decoder.decode(canonical_bytes_trusted(candidate.to_dict()))
    assert decoder.hits == 1 and decoded.transactions is expected.transactions
    known = outcomes.find(sim.state, decoded)
    assert known is not None and known.same_transactions(decoded)
    outcomes.apply(sim.state, decoded, known, producer_signature=False)
    assert compute_full_state_root(sim.state) == candidate.header.state_root


def test_restore_batch_equals_restore(sim: ChainSim) -> None:
    sim.produce(1, [transfer(sim.state, "alice", "bob", 1, nonce=0)])
    txs = [transfer(sim.state, "bob", "alice", 2, nonce=n) for n in range(3)]
    block = sim.make_block(2, txs)
    undo = state_transition(sim.state, block, sim.cache)
    forward = sim.state.snapshot(undo)
    after = rows(sim.state)
    sim.state.undo(undo)
    sim.state.restore_batch(State.batch(forward))
    assert rows(sim.state) == after
    assert compute_state_root(sim.state) == compute_full_state_root(sim.state)
