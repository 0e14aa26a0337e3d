"""Building a candidate: from the member's view of the chain (head state and mempool), the
block for an open pool slot, with tx and state roots computed by the chain library and
signed by the member as builder."""

from __future__ import annotations

from dataclasses import dataclass

from chain.core import Block, PrivateKey, SignatureCache, State, Transaction, build_block
from chain.core.errors import ChainError


@dataclass
class Candidate:
    block: Block
    rejected: int


class CandidateError(Exception):
    """No candidate can be built for this slot (wrong head, not the pool's slot, ...)."""


def build_candidate(
    state: State,
    *,
    slot: int,
    pool: str,
    builder: str,
    key: PrivateKey,
    transactions: list[Transaction],
    sig_cache: SignatureCache | None = None,
    max_transactions: int | None = None,
) -> Candidate:
    """The candidate for ``slot`` of ``pool`` on top of ``state`` (left unchanged)."""
    try:
        built = build_block(
            state,
            slot=slot,
            producer=pool,
            builder=builder,
            transactions=transactions,
            sig_cache=sig_cache,
            max_transactions=max_transactions,
        )
    except ChainError as exc:
        raise CandidateError(f"cannot build slot {slot}: {exc.message}") from None
    return Candidate(built.block.signed_by_builder(key), len(built.rejected))
