"""What the node tells its head stream: head changes, LIB moves and admitted transactions.

Head and LIB events go out at once. Admitted transactions go out as ``mempool`` events in
batches, at most every ``MEMPOOL_EVENT_DELAY_S`` (followers mirroring the mempool take them
from the stream instead of polling), and only while someone listens.
"""

from __future__ import annotations

import asyncio
import time

import orjson

from chain.core import Block, OnBlockResult, Store, Transaction
from chain.core.containers import encode_block
from chain.core.mempool import Mempool
from service_shell.events import Broadcaster

# New mempool transactions go out on the head stream in batches at most this often: a busy
# mempool makes tens of events a second, an idle one none (followers used to poll it).
MEMPOOL_EVENT_DELAY_S = 0.01


class Announcer:
    """Publishes the node's head changes and admitted transactions on ``events``."""

    def __init__(self, events: Broadcaster, mempool: Mempool) -> None:
        self.events = events
        self.mempool = mempool
        self._pending: list[Transaction] = []  # admitted, not yet on the head stream
        self._publish_at: asyncio.TimerHandle | None = None

    def transaction(self, tx: Transaction) -> None:
        """Put ``tx`` on the head stream (``mempool`` events, for followers mirroring the
        mempool), batched with whatever else is admitted within ``MEMPOOL_EVENT_DELAY_S``."""
        if not self.events.subscribers:
            return  # nobody listens; a new follower fetches what it missed itself
        self._pending.append(tx)
        if self._publish_at is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                self._publish_mempool()
                return
            self._publish_at = loop.call_later(MEMPOOL_EVENT_DELAY_S, self._publish_mempool)

    def _publish_mempool(self) -> None:
        self._publish_at = None
        txs, self._pending = self._pending, []
        seqs = [self.mempool.seq_of(tx.id) for tx in txs]
        pending = [(tx, seq) for tx, seq in zip(txs, seqs, strict=True) if seq]  # 0: gone already
        if pending:
            self.events.publish(
                "mempool",
                {
                    "last_seq": self.mempool.last_seq,
                    "transactions": [tx.to_dict() for tx, _ in pending],
                    "seqs": [seq for _, seq in pending],
                },
            )

    def head(
        self, store: Store, head: Block | None, result: OnBlockResult, encoded: dict[str, bytes]
    ) -> None:
        """A head change: the ``head`` event (with the applied blocks, their stored bytes from
        ``encoded`` where given), and ``lib`` when the LIB moved with it."""
        state = store.state
        meta = state.chain
        payload = {
            "height": meta.height,
            "id": state.head_id,
            "slot": meta.slot,
            "producer": head.header.producer if head else "",
            "builder": head.header.builder if head else "",
            "lib_height": store.lib_height,
            "lib_id": store.lib_id,
            "applied": [b.id for b in result.applied],
            "reverted": [b.id for b in result.reverted],
            "blocks": [orjson.Fragment(encoded.get(b.id) or encode_block(b)) for b in result.applied],
            # Wall-clock acceptance time, for latency measurements from other processes.
            "accepted_unix_us": time.time_ns() // 1000,
        }
        self.events.publish("head", payload)
        if result.lib_changed:
            self.lib(store)

    def lib(self, store: Store) -> None:
        """The ``lib`` event: the last irreversible block moved."""
        self.events.publish("lib", {"height": store.lib_height, "id": store.lib_id})

    def close(self) -> None:
        """Drop what was not published yet and end the streams."""
        if self._publish_at is not None:
            self._publish_at.cancel()
            self._publish_at = None
        self.events.close()
