"""Validated block outcomes, reused for blocks of the same content.

What a block does to the state depends on its parent state, its slot, its producer and its
transactions, never on who built it: the builder (and the builder's and producer's signatures)
only decide whether the block is *acceptable*. Two candidates of one slot built from one
mempool therefore have one outcome. The pool emitter and the node validate the block they
expect for a slot ahead of time (``remember``); a candidate of the same content then costs its
signature checks and a Merkle root over transaction hashes it already carries, instead of a
state transition (``apply``).

A content key pins everything ``state_transition`` reads from a header except the builder:
chain id, height, slot, parent, timestamp, producer, the transaction root and the claimed
state root. The transaction root is recomputed from the candidate's own transactions, so an
equal key means the same transactions in the same order (sha256 collision resistance) on the
same parent: exactly the state transition already done, with the same result.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from .containers import Block, BlockHeader
from .errors import TxRootMismatch
from .state import BlockRef, RestoreBatch, State, UndoLog
from .transition import compute_tx_root, verify_block_signatures

ContentKey = tuple[Any, ...]


def content_key(header: BlockHeader) -> ContentKey:
    """What determines a block's outcome (its header without the builder)."""
    return (
        header.chain_id,
        header.height,
        header.slot,
        header.prev_id,
        header.timestamp,
        header.producer,
        header.tx_root,
        header.state_root,
    )


@dataclass(frozen=True)
class Outcome:
    """A block validated on its parent: the undo log back to the parent and the values of
    every touched record after the block (to step forward again without re-applying)."""

    block: Block
    undo: UndoLog
    forward: RestoreBatch

    def same_transactions(self, block: Block) -> bool:
        """Whether ``block`` is known to carry this outcome's very transaction list (the same
        parsed list, or equal digests of their canonical JSON, when both are at hand)."""
        mine = self.block
        if block.transactions is mine.transactions:
            return True
        theirs, ours = block.__dict__.get("transactions_digest"), mine.__dict__.get("transactions_digest")
        return theirs is not None and theirs == ours


class Outcomes:
    """A small cache of validated outcomes by content key (oldest forgotten first)."""

    def __init__(self, capacity: int = 8) -> None:
        self.capacity = capacity
        self._items: OrderedDict[ContentKey, Outcome] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def clear(self) -> None:
        self._items.clear()

    def remember(self, state: State, block: Block, undo: UndoLog) -> Outcome:
        """Keep (and return) the outcome of ``block``, which is applied to ``state`` with undo
        log ``undo`` (the caller steps back with ``state.undo(undo)`` if it wants the parent)."""
        key = content_key(block.header)
        outcome = Outcome(block, list(undo), State.batch(state.snapshot(undo)))
        self._items.pop(key, None)
        self._items[key] = outcome
        while len(self._items) > self.capacity:
            self._items.popitem(last=False)
        return outcome

    def find(self, state: State, block: Block) -> Outcome | None:
        """The known outcome of a block with ``block``'s content, if ``state`` is its parent."""
        header = block.header
        if header.prev_id != state.head_id:
            return None
        return self._items.get(content_key(header))

    def check(
        self, state: State, block: Block, outcome: Outcome, *, producer_signature: bool = True
    ) -> tuple[UndoLog, RestoreBatch]:
        """Check ``block`` against its known ``outcome`` without touching ``state``: the
        signature checks of ``state_transition`` and the transaction root of its own body.
        Raises like ``state_transition`` or returns the block's undo log and its forward
        snapshot (for ``state.restore_batch``)."""
        header = block.header
        verify_block_signatures(state, block, producer_signature=producer_signature)
        # Verify the body is the one the header (and so the outcome) commits to; a list known
        # to be the outcome's own needs no Merkle root (the outcome's header has this root)
        if not outcome.same_transactions(block) and compute_tx_root(block.transactions) != header.tx_root:
            raise TxRootMismatch("tx_root does not match the block's transactions")
        forward = outcome.forward
        if outcome.block.id != block.id:
            # The one builder-dependent record: the block's own id at its height (outside
            # the state root).
            height, ref = str(header.height), BlockRef(block.id, header.slot)
            forward = [
                (table, {**updates, height: ref}, deletes)
                if table is state.blocks
                else (table, updates, deletes)
                for table, updates, deletes in forward
            ]
        return list(outcome.undo), forward

    def apply(
        self, state: State, block: Block, outcome: Outcome, *, producer_signature: bool = True
    ) -> UndoLog:
        """Apply ``block`` by its known ``outcome`` (see :meth:`check`); returns its undo log."""
        undo, forward = self.check(state, block, outcome, producer_signature=producer_signature)
        state.restore_batch(forward)
        return undo


__all__ = ["ContentKey", "Outcome", "Outcomes", "content_key"]
