"""Block production: with a producer key, the node builds a block at each of its own slots.

It never builds twice for one slot, nor for a slot at or behind the head's: the last slot it
produced for is stored before the block leaves the process, so a restart does not produce for
it again (double production is slashed 5 % and tombstones the producer).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from chain.core import Block, build_block
from chain.core.schedule import get_scheduled_producer
from service_shell.clock import monotonic_ms

if TYPE_CHECKING:
    from chain.node.node import Node

log = logging.getLogger("bppool.node")

LAST_PRODUCED_SLOT = "last_produced_slot"  # the block store's meta key


class Production:
    """Builds, signs, stores and announces the node's own blocks."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.last_slot = 0

    def load(self) -> None:
        """Read the last slot produced for from the block store."""
        self.last_slot = int(self.node.blockstore.get_meta(LAST_PRODUCED_SLOT) or 0)

    async def loop(self) -> None:
        """Produce at the start of every slot (plus ``produce_offset_ms``) this node owns."""
        node = self.node
        genesis_time, slot_ms = node.genesis.genesis_time, node.params.slot_ms
        while True:
            slot = node.current_slot() + 1
            await node.clock.sleep_until_ms(genesis_time + slot * slot_ms + node.settings.produce_offset_ms)
            # A failure is the supervisor's: logged, counted, and the loop goes on at a next slot.
            await self.produce(slot)

    async def produce(self, slot: int) -> Block | None:
        """Build, sign, store and announce this node's block for ``slot`` if it owns it."""
        node = self.node
        if not node.keys:
            return None
        async with node.lock:
            state = node.state
            # Never build on or behind the head's slot, nor twice for one slot.
            if slot <= state.slot or slot <= self.last_slot:
                return None
            keyfile = node.keys.get(get_scheduled_producer(state, slot))
            if keyfile is None:
                return None
            transactions = node.mempool.select(state, node.params.max_block_transactions)
            started = monotonic_ms()
            built = build_block(
                state,
                slot=slot,
                producer=keyfile.account,
                transactions=transactions,
                sig_cache=node.sig_cache,
                keep=True,
            )
            undo = built.undo or []
            try:
                block = built.block.signed_by_producer(keyfile.key)
                self.last_slot = slot
                node.blockstore.set_meta(LAST_PRODUCED_SLOT, str(slot))
            except BaseException:
                state.undo(undo)
                raise
            node.mempool.remove(tx.id for tx, _ in built.rejected)
            node.accept(block, node.store.adopt(block, undo) if node.store else None)
            node.metrics.block_build_seconds.observe((monotonic_ms() - started) / 1000)
        node.metrics.blocks_produced.inc()
        log.info(
            "produced block %d for slot %d with %d transaction(s)",
            block.height,
            slot,
            len(block.transactions),
        )
        node.sync.gossip_block(block)
        return block
