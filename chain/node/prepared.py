"""Prepared blocks: the pool emitter's two-step push of a pool block.

``prepare`` validates a candidate of the slot's scheduled producer on the head state ahead of
its signature (a request signed with that producer's key: nobody else can make the node
validate blocks); ``commit`` then takes the producer's signature alone, with no second
validation. A commit that overtakes its prepare (sent right behind it on another connection)
waits for it; a prepare made on an older head is stale and refused.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from chain.client.decoding import BlockDecoder
from chain.core import Block, OnBlockResult, State, state_transition
from chain.core.crypto import DOMAIN_BLOCK, verify_signature
from chain.core.errors import BadProducerSignature, MalformedInput, WrongParent, WrongProducer
from chain.core.outcomes import Outcomes
from chain.core.schedule import get_scheduled_producer
from chain.core.state import RestoreBatch, UndoLog, compute_state_root
from chain.core.types import SignatureHex
from service_shell.clock import monotonic_ms
from service_shell.requestauth import RequestVerifier
from service_shell.web import ApiError

if TYPE_CHECKING:
    from chain.node.node import Node

MAX_PREPARED = 16
COMMIT_WAIT_MS = 2000  # how long a commit waits for its prepare still in flight
# Housekeeping after a commit waits this long: right after a block the node is busiest (the
# head stream, followers fetching the block and their mempool updates, the pool's members
# delivering for the slot); the next block is a slot away.
AFTER_COMMIT_DELAY_S = 0.1


@dataclass
class Prepared:
    """A candidate validated on the head state, waiting for its producer's signature."""

    block: Block
    head_id: str
    undo: UndoLog
    forward: RestoreBatch


class PreparedBlocks:
    """The node's prepared blocks (at most ``MAX_PREPARED``, the oldest dropped first)."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.blocks: dict[str, Prepared] = {}
        # Outcomes of prepared blocks by content: candidates differing only in their builder
        # are prepared by the signatures alone.
        self.outcomes = Outcomes()
        self.preparing = 0  # prepare requests in flight (see started())
        self._changed = asyncio.Event()
        # Prepares are signed requests: checked (and replays refused) as the pool's are.
        self.verifier = RequestVerifier(
            chain_id=node.chain_id, clock=node.clock, skew_ms=node.settings.request_skew_s * 1000
        )
        # Candidates of one slot share their transaction list: parsed once.
        self.decoder = BlockDecoder(node.mempool.tx_cache, node.params.max_block_transactions)

    # --- prepare ---------------------------------------------------------------------------

    async def prepare(self, headers: Mapping[str, str], body: bytes, path: str) -> Block:
        """Validate a candidate for the slot's scheduled producer now, so that its commit
        (the producer's signature alone) needs no second validation."""
        node = self.node
        started = monotonic_ms()
        signed = self.verifier.read(headers)
        try:
            block = self.decoder.decode(body)
        except MalformedInput as exc:
            raise ApiError(400, "malformed", exc.message) from None
        header = block.header
        async with node.lock:
            state = node.state
            # Verify the requester is the block's producer, signing as the pool protocol does
            producer = state.accounts.get(header.producer)
            if producer is None or signed.member != header.producer:
                raise ApiError(
                    401,
                    "unauthenticated",
                    "prepare_block needs a request signed by the block's producer",
                )
            self.verifier.verify(
                signed,
                producer.key,
                pool=header.producer,
                method="POST",
                path=path,
                body=body,
                body_sha256=self.decoder.body_sha256(body),
            )
            # Verify it builds on the head for a slot of that producer
            if header.prev_id != state.head_id:
                raise WrongParent(f"prev_id {header.prev_id[:16]}… is not the head {state.head_id[:16]}…")
            if get_scheduled_producer(state, header.slot) != header.producer:
                raise WrongProducer(f"slot {header.slot} does not belong to {header.producer}")
            self._remember(self._validate(state, block))
        node.metrics.block_prepare_seconds.observe((monotonic_ms() - started) / 1000)
        return block

    def _validate(self, state: State, block: Block) -> Prepared:
        """Run ``block`` on ``state`` without its producer signature and undo it."""
        metrics = self.node.metrics
        known = self.outcomes.find(state, block)
        if known is not None:
            # Same content as a block prepared before (the producer sends the block it
            # expects ahead of the slot): the signatures and the body's root, no transition.
            undo, forward = self.outcomes.check(state, block, known, producer_signature=False)
            metrics.block_prepares.labels(path="known").inc()
        else:
            undo = state_transition(state, block, self.node.sig_cache, producer_signature=False)
            forward = self.outcomes.remember(state, block, undo).forward
            state.undo(undo)
            metrics.block_prepares.labels(path="full").inc()
        return Prepared(block, state.head_id, undo, forward)

    def _remember(self, prepared: Prepared) -> None:
        if len(self.blocks) >= MAX_PREPARED:
            del self.blocks[next(iter(self.blocks))]
        self.blocks[prepared.block.id] = prepared

    def started(self) -> Callable[[], None]:
        """A prepare request has come in (its body may still be on its way): until the
        returned callable is called, a commit that overtakes it waits for it."""
        self.preparing += 1
        done = False

        def finished() -> None:
            nonlocal done
            if not done:
                done = True
                self.preparing -= 1
                self._changed.set()

        return finished

    async def _await_prepared(self, block_id: str) -> None:
        deadline = monotonic_ms() + COMMIT_WAIT_MS
        while block_id not in self.blocks and self.preparing > 0:
            left = deadline - monotonic_ms()
            if left <= 0:
                return
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), left / 1000)

    # --- commit ----------------------------------------------------------------------------

    async def commit(self, block_id: str, producer_signature: str) -> tuple[Block, OnBlockResult]:
        """Take a prepared block once its producer signed it: no second validation."""
        node = self.node
        if block_id not in self.blocks and self.preparing:
            await self._await_prepared(block_id)
        async with node.lock:
            prepared = self._take(block_id, node.state, producer_signature)
            block = prepared.block.with_signatures(producer_signature=SignatureHex(producer_signature))
            node.state.restore_batch(prepared.forward)
            result = node.accept(block, node.store.adopt(block, prepared.undo) if node.store else None)
        node.metrics.blocks_received.labels(result="committed").inc()
        node.sync.gossip_block(block)
        node.spawn(self._after_commit())
        return block, result

    def _take(self, block_id: str, state: State, producer_signature: str) -> Prepared:
        """The prepared block ``block_id``, taken out once its producer's signature verifies."""
        prepared = self.blocks.get(block_id)
        if prepared is None:
            raise ApiError(
                409, "not_prepared", f"block {block_id[:16]}… was not prepared here; push it instead"
            )
        if state.head_id != prepared.head_id:
            del self.blocks[block_id]
            raise ApiError(
                409, "stale_prepare", "the head moved since the block was prepared; push it instead"
            )
        header = prepared.block.header
        producer = state.accounts.get(header.producer)
        # Verify the producer signed the header
        if producer is None or not verify_signature(
            producer.key, DOMAIN_BLOCK, header.canonical, producer_signature
        ):
            raise BadProducerSignature(f"producer signature does not verify for {header.producer}")
        del self.blocks[block_id]
        return prepared

    async def _after_commit(self) -> None:
        """Housekeeping after a commit, off its request and off the busy moment right after
        it: drop what was prepared on the old head (stale now, and refused as such meanwhile),
        and rehash the records restoring the prepared block marked, rather than during the
        next block (a block that comes sooner rehashes them itself)."""
        await asyncio.sleep(AFTER_COMMIT_DELAY_S)
        node = self.node
        async with node.lock:
            self.blocks = {k: p for k, p in self.blocks.items() if p.head_id == node.state.head_id}
            self.outcomes.clear()
            if node.store is not None:
                compute_state_root(node.store.state)
