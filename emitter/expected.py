"""The block members are expected to build, validated ahead, and the one validation memo.

**The memo** (:class:`ContentMemo`): "is this content valid on this parent" is answered once
per content. A block's content is its header without the builder plus its exact transaction
list (:func:`content_of`): candidates built from one mempool differ only in their builder,
so one validation serves them all, and each further one costs its signature checks. The memo
holds what a validation found, under that one key, for as long as it can be reused:

- the *outcome* of valid content (the state changes, ``chain.core.outcomes.Outcomes``), kept
  across slots: the expected block is validated before its slot opens;
- the *verdict* of every content judged in the open slot (valid or the rejection), kept with
  the slot's run (``SlotRun.verdicts``) and gone when the slot closes.

**The expected block** (:class:`ExpectedBlocks`): ahead of each pool slot, the block built
from the mempool's transactions up to a sequence number is validated (its outcome goes into
the memo) and prepared at the node; the slot's opening names that number (``tx_seq``) so
members build the same content.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chain.client.decoding import BlockDecoder, encode_candidate
from chain.client.http import NodeError
from chain.core import Block, ChainError, build_block, state_transition
from chain.core.outcomes import Outcomes, content_key
from chain.core.schedule import get_scheduled_producer
from chain.core.state import State, UndoLog
from emitter.context import Context
from emitter.delivery import Delivery
from emitter.slotrun import SlotRun

log = logging.getLogger("bppool.emitter")

EXPECT_POLL_S = 0.02  # how often the expected block's inputs (head, slot, mempool) are looked at
EXPECT_GUARD_MS = 10  # no revalidation this close to a slot's opening

ContentOf = tuple[Any, ...]


def content_of(block: Block) -> ContentOf:
    """The memo's key: the header minus the builder, and the exact transactions (by their
    list's digest)."""
    return (*content_key(block.header), block.transactions_digest)


class ContentMemo:
    """What validations found, by content (see the module's docstring)."""

    def __init__(self, ctx: Context) -> None:
        self.follower = ctx.follower
        self.metrics = ctx.metrics
        self.outcomes = Outcomes()

    def apply(self, state: State, block: Block) -> UndoLog:
        """Validate a candidate onto ``state`` (its parent), by a known outcome of the same
        content when there is one; raises a ChainError, leaving ``state`` as it was."""
        known = self.outcomes.find(state, block)
        if known is not None:
            undo = self.outcomes.apply(state, block, known, producer_signature=False)
            self.metrics.validation_path.labels(path="known").inc()
            return undo
        undo = state_transition(state, block, self.follower.sig_cache, producer_signature=False)
        self.outcomes.remember(state, block, undo)
        self.metrics.validation_path.labels(path="full").inc()
        return undo

    def remember(self, state: State, block: Block, undo: UndoLog) -> None:
        """Keep the outcome of ``block``, applied to ``state`` with ``undo``."""
        self.outcomes.remember(state, block, undo)

    @staticmethod
    def verdict(run: SlotRun, key: ContentOf) -> tuple[str, str] | None:
        """The verdict of content ``key`` judged earlier in ``run``, if any."""
        return run.verdicts.get(key)

    @staticmethod
    def note(run: SlotRun, key: ContentOf, verdict: str, reason: str) -> None:
        """Keep the verdict of content ``key`` for the rest of ``run``."""
        run.verdicts[key] = (verdict, reason)


@dataclass(frozen=True)
class Expected:
    """The block members are expected to build for a pool slot, validated ahead: the
    mempool's selection of the transactions numbered up to ``tx_seq`` on ``prev_id``."""

    slot: int
    prev_id: str
    tx_seq: int
    tx_count: int


class ExpectedBlocks:
    """Validates (and has the node prepare) the block expected for the next pool slot."""

    def __init__(
        self,
        ctx: Context,
        *,
        lead_ms: int,
        max_transactions: int,
        memo: ContentMemo,
        decoder: BlockDecoder,
        delivery: Delivery,
        open_slot: Callable[[], int],
    ) -> None:
        self.follower = ctx.follower
        self.timing = ctx.timing
        self.pool = ctx.pool
        self.lead_ms = lead_ms
        self.max_transactions = max_transactions
        self.memo = memo
        self.decoder = decoder
        self.delivery = delivery
        self.metrics = ctx.metrics
        self.open_slot = open_slot  # the slot of the open run (0: none)
        self.expected: Expected | None = None
        self.body: bytes | None = None  # still to be prepared at the node

    async def loop(self) -> None:
        """Validate the block members are expected to build, ahead of each pool slot."""
        await self.follower.synced.wait()
        while True:
            await self.expect()
            await asyncio.sleep(EXPECT_POLL_S)

    def expect_slot(self, now_ms: int) -> int | None:
        """The pool slot to validate ahead for: the next one not yet open, if it opens within
        the lead time (and not in the last few milliseconds, when members are about to build)."""
        state = self.follower.state
        slot = max(self.timing.current_slot(), state.slot, self.open_slot()) + 1
        # Only the slots opening within the lead time are candidates (one, unless the lead is
        # longer than a slot): a look at each, not a scan of the schedule every few ms.
        while (ahead := self.timing.slot_start(slot) - now_ms) <= self.lead_ms:
            if ahead >= EXPECT_GUARD_MS and get_scheduled_producer(state, slot) == self.pool:
                return slot
            slot += 1
        return None

    async def expect(self) -> None:
        """One look: validate the expected block of the next pool slot if its inputs changed."""
        slot = self.expect_slot(self.timing.clock.now_ms())
        if slot is None:
            return
        follower = self.follower
        expected = self.expected
        if expected is not None and expected.slot == slot and expected.prev_id == follower.state.head_id:
            # Once per slot and parent: what arrives later goes into a later slot's block.
            if self.body is not None:
                await self.prepare()
            return
        async with follower.lock:
            mempool_seq = follower.mempool.last_seq
            built = self._build(slot, mempool_seq)
        if built is None:
            return
        self.metrics.expected_blocks.inc()
        log.debug(
            "slot %d: expected block of %d transactions (up to tx_seq %d) validated ahead",
            slot,
            len(built.transactions),
            mempool_seq,
        )
        self.decoder.expect(built)
        self.body = encode_candidate(built)
        await self.prepare()

    def _build(self, slot: int, tx_seq: int) -> Block | None:
        """Build and validate the expected block on the replica's head (under its lock), keep
        its outcome in the memo and note it as :attr:`expected`."""
        follower = self.follower
        state = follower.state
        txs = follower.mempool.select(state, self.max_transactions, max_seq=tx_seq)
        try:
            built = build_block(
                state,
                slot=slot,
                producer=self.pool,
                transactions=txs,
                sig_cache=follower.sig_cache,
                keep=True,
            )
        except ChainError as exc:
            log.debug("slot %d: no expected block: %s", slot, exc)
            return None
        undo = built.undo or []
        try:
            self.memo.remember(state, built.block, undo)
        finally:
            state.undo(undo)
        self.expected = Expected(
            slot=slot, prev_id=state.head_id, tx_seq=tx_seq, tx_count=len(built.block.transactions)
        )
        return built.block

    async def prepare(self) -> None:
        """Have the node validate the expected block too, so a member's candidate of the same
        content is prepared there by its signatures alone. The node may not hold the parent
        yet (our previous block on its way): then this is tried again on the next look."""
        body, expected = self.body, self.expected
        if body is None or expected is None:
            return
        headers = self.delivery.prepare_headers(body)
        try:
            await self.delivery.pushers[0].prepare_block(body, headers)
        except NodeError as exc:
            if exc.code != "wrong_parent":
                self.body = None
            log.debug("slot %d: the node did not prepare the expected block: %s", expected.slot, exc)
        else:
            self.body = None

    def expected_seq(self, run: SlotRun) -> int | None:
        """The ``tx_seq`` of the block validated ahead for ``run`` (slot and parent), if any."""
        expected = self.expected
        if expected is not None and expected.slot == run.slot and expected.prev_id == run.prev_id:
            return expected.tx_seq
        return None
