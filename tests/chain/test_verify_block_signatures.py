"""verify_block_signatures: the producer's signature and a pool member's builder signature."""

from __future__ import annotations

from dataclasses import replace

import pytest

from chain.core import Block, state_transition
from chain.core.errors import BadBuilderSignature, BadProducerSignature
from tests.helpers.chain import ChainSim, key_for


def signed_by(block: Block, signer: str, domain: bytes) -> Block:
    """``block`` with a producer signature by ``signer``'s key over ``domain``."""
    signature = key_for(signer).sign(domain, block.header.canonical)
    return Block(block.header, block.transactions, producer_signature=signature)


def test_producer_signature_is_required(sim: ChainSim) -> None:
    block = sim.make_block(1)
    unsigned = Block(block.header, block.transactions)
    with pytest.raises(BadProducerSignature, match="alpha"):
        state_transition(sim.state, unsigned, sim.cache)
    forged = signed_by(block, "beta", b"bppool/block/v1")
    with pytest.raises(BadProducerSignature):
        state_transition(sim.state, forged, sim.cache)


def test_candidate_signature_is_not_a_block_signature(sim: ChainSim) -> None:
    block = sim.make_block(1)
    wrong_domain = signed_by(block, "alpha", b"bppool/candidate/v1")
    with pytest.raises(BadProducerSignature):
        state_transition(sim.state, wrong_domain, sim.cache)


def test_member_built_block_needs_builder_signature(sim: ChainSim) -> None:
    block = sim.make_block(1, builder="alice")
    assert block.header.builder == "alice" and block.builder_signature
    missing = Block(block.header, block.transactions, block.producer_signature, None)
    with pytest.raises(BadBuilderSignature, match="alice"):
        state_transition(sim.state, missing, sim.cache)
    wrong = Block(
        block.header,
        block.transactions,
        block.producer_signature,
        key_for("bob").sign(b"bppool/candidate/v1", block.header.canonical),
    )
    with pytest.raises(BadBuilderSignature):
        state_transition(sim.state, wrong, sim.cache)
    state_transition(sim.state, block, sim.cache)
    assert sim.state.height == 1


def test_unknown_builder_and_unexpected_builder_signature(sim: ChainSim) -> None:
    block = sim.make_block(1)
    header = replace(block.header, builder="nobody")
    unknown = Block(header, block.transactions).signed_by_producer(key_for("alpha"))
    with pytest.raises(BadBuilderSignature, match="not an account"):
        state_transition(sim.state, unknown, sim.cache)
    extra = block.signed_by_builder(key_for("alpha"))
    with pytest.raises(BadBuilderSignature, match="carries no builder signature"):
        state_transition(sim.state, extra, sim.cache)


def test_candidate_validates_without_producer_signature(sim: ChainSim) -> None:
    block = sim.make_block(1, builder="alice")
    candidate = Block(block.header, block.transactions, builder_signature=block.builder_signature)
    state_transition(sim.state, candidate, sim.cache, producer_signature=False)
    assert sim.state.head_id == block.id
