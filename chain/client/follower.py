"""Follow a chain node from another process: a replica of its chain and of its mempool.

The pool's emitter and each pool member keep one. The replica replays the node's canonical
blocks, then applies every head the node announces on its head stream (blocks included), so
the replica's head state is the node's. The mempool mirror pulls new transactions
incrementally and verifies their signatures in the background into the shared
:class:`~chain.core.SignatureCache`: a candidate built from known mempool transactions then
costs only state application, however many of them it holds.

Everything that reads or changes the replica state across an ``await`` holds :attr:`lock`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from chain.client.http import AsyncNodeClient, NodeError
from chain.core import (
    Block,
    ChainError,
    Genesis,
    OnBlockResult,
    SignatureCache,
    State,
    Store,
    Transaction,
    create_genesis_state,
)
from chain.core.errors import UnknownParent
from chain.core.mempool import Mempool
from chain.core.sigcache import verify_transaction_signature
from service_shell.clock import Clock, SystemClock
from service_shell.supervisor import Supervisor

log = logging.getLogger("bppool.follower")

SYNC_BATCH = 500
HeadListener = Callable[[OnBlockResult], None]


@dataclass(frozen=True)
class NodeHead:
    """The node's head as its head stream announced it."""

    id: str
    height: int
    slot: int
    seen_ms: int  # when it was announced (the follower's clock)


class ChainFollower:
    """A replica of one node's chain state and mempool."""

    def __init__(
        self,
        genesis: Genesis,
        node_url: str,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Clock | None = None,
        mempool_max: int = 50_000,
        mempool_poll_s: float = 0.05,
        stream_blocks: bool = True,
        supervisor: Supervisor | None = None,
    ) -> None:
        self.genesis = genesis
        # True: head events carry the new blocks. False: they name them, and the replica
        # catches up with the node only when it lacks one (for a replica that builds most of
        # its blocks itself, the pool emitter: its own ~170 kB blocks need not come back).
        self.stream_blocks = stream_blocks
        self.node_url = node_url
        self.client = AsyncNodeClient(node_url, transport=transport, timeout=5.0)
        self.clock: Clock = clock or SystemClock()
        self.sig_cache = SignatureCache()
        self.mempool = Mempool(max_size=mempool_max, sig_cache=self.sig_cache)
        self.store = Store(create_genesis_state(genesis), self.sig_cache)
        self.lock = asyncio.Lock()
        self.listeners: list[HeadListener] = []
        self.connected = False
        self.synced = asyncio.Event()
        self.mempool_poll_s = mempool_poll_s
        self.mempool_streamed = False  # the head stream brings the mempool (no polling)
        self._last_seq = 0
        # The service's supervisor runs the loops (a follower on its own gets one).
        self.supervisor = supervisor or Supervisor()
        self._own_supervisor = supervisor is None
        self._tasks: list[asyncio.Task[Any]] = []
        self._rebuild = False
        # The node's head as it last announced it (id, height, slot): what the replica follows.
        self.node_head: NodeHead | None = None
        self._head_changed_ms = 0  # when the replica's head last changed (the follower's clock)

    @property
    def state(self) -> State:
        return self.store.state

    # --- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Start following (returns at once; :attr:`synced` is set after the first catch-up).

        Both loops run under the supervisor as ``follower`` and ``mempool_mirror``: an
        unexpected exception is logged, counted and the loop restarted; after a failure of
        ``follower`` the replica is rebuilt from genesis (a failure may have left it half
        changed), so the service recovers on its own.
        """
        self._tasks = [
            self.supervisor.supervise("follower", self._follow_loop, on_failure=self._replica_failed),
            self.supervisor.supervise("mempool_mirror", self._mempool_loop),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        if self._own_supervisor:
            await self.supervisor.stop()
        await self.client.aclose()

    def _replica_failed(self, exc: BaseException) -> None:
        self.connected = False
        self.mempool_streamed = False
        self._rebuild = True

    async def rebuild(self) -> None:
        """Start the replica over from genesis (the next catch-up replays the node's chain)."""
        self.synced.clear()  # set again once caught up
        async with self.lock:
            self.store = Store(create_genesis_state(self.genesis), self.sig_cache)
        log.warning("replica of %s rebuilt from genesis; catching up", self.node_url)

    # --- following the node's head ---------------------------------------------------------

    def _saw_node_head(self, data: dict[str, Any]) -> None:
        block_id, height, slot = data.get("id"), data.get("height"), data.get("slot")
        if not (isinstance(block_id, str) and isinstance(height, int) and isinstance(slot, int)):
            return
        if self.node_head is None or self.node_head.id != block_id:
            self.node_head = NodeHead(block_id, height, slot, self.clock.now_ms())

    def lag(self) -> str | None:
        """Why the replica does not follow the node's canonical head, or None when it does.

        It follows when its head is the node's, or within one slot of it: the node's head is
        on our chain one slot behind ours (our own block on its way to the node), or one we have
        not fetched yet one slot ahead; after a gap in the slots, for one slot's time since the
        head changed. A replica on another branch, or further away for longer, does not.
        """
        if not self.connected:
            return f"not connected to the head stream of {self.node_url}"
        node = self.node_head
        if node is None:
            return f"no head announced by {self.node_url} yet"
        state = self.state
        if node.id == state.head_id:
            return None
        # Below our LIB the state keeps no ids: a node behind our LIB is behind our chain.
        ref = state.block_ref(node.height)
        on_our_chain = node.height < state.chain.lib_height or (ref is not None and ref.id == node.id)
        now, slot_ms = self.clock.now_ms(), self.genesis.params.slot_ms
        if on_our_chain and (state.slot - node.slot <= 1 or now - self._head_changed_ms < slot_ms):
            return None
        if node.id not in self.store and (0 < node.slot - state.slot <= 1 or now - node.seen_ms < slot_ms):
            return None
        return (
            f"replica head {state.height} (slot {state.slot}, {state.head_id[:16]}…) is not the "
            f"node's head {node.height} (slot {node.slot}, {node.id[:16]}…)"
        )

    # --- blocks ----------------------------------------------------------------------------

    def apply_block(self, block: Block) -> OnBlockResult:
        """Feed one block to fork choice and tell the listeners (call under :attr:`lock`)."""
        result = self.store.on_block(block)
        if result.applied:
            self._after_head_change(result)
        return result

    def adopt(self, block: Block, undo: list[Any]) -> OnBlockResult:
        """Record a block built here on the head (``build_block(keep=True)`` or a validated
        candidate) without applying it again (call under :attr:`lock`)."""
        result = self.store.adopt(block, undo)
        self._after_head_change(result)
        return result

    def _after_head_change(self, result: OnBlockResult) -> None:
        self._head_changed_ms = self.clock.now_ms()
        self.mempool.on_head_change(self.state, result.applied, result.reverted, self.clock.now_ms())
        for listener in list(self.listeners):
            try:
                listener(result)
            except Exception:
                log.exception("head listener failed")

    def _decode(self, data: Any) -> Block:
        return Block.from_dict(data, tx_cache=self.mempool.tx_cache)

    async def sync(self) -> int:
        """Pull the node's canonical blocks we do not have; returns how many were new."""
        added = 0
        height = self.state.height + 1
        while True:
            batch = await self.client.blocks(height, SYNC_BATCH)
            async with self.lock:
                for data in batch:
                    try:
                        result = self.apply_block(self._decode(data))
                    except UnknownParent:
                        # A branch we do not follow: take the node's chain from our LIB.
                        lib = self.store.lib_height
                        if height > lib + 1:
                            height = lib + 1
                            break
                        raise
                    added += result.status != "duplicate"
                else:
                    if len(batch) < SYNC_BATCH:
                        return added
                    height = batch[-1]["header"]["height"] + 1

    async def _follow_loop(self) -> None:
        if self._rebuild:
            await self.rebuild()
            self._rebuild = False
        backoff = 0.1
        while True:
            try:
                await self.sync()
                self.synced.set()
                stream = self.client.head_stream(include_blocks=self.stream_blocks, include_mempool=True)
                async for event, data in stream:
                    self.connected = True
                    backoff = 0.1
                    if event in ("hello", "head"):
                        self._saw_node_head(data)
                    if event == "hello":
                        if data.get("height", 0) > self.state.height:
                            await self.sync()
                        # A node that streams its mempool: fetch what came before the stream,
                        # then take the rest from it (no more polling while connected).
                        streamed = "mempool_seq" in data
                        if streamed:
                            await self.poll_mempool()
                        self.mempool_streamed = streamed
                    elif event == "head":
                        await self._on_head_event(data)
                    elif event == "mempool" and self.mempool_streamed:
                        await self._mirror(data)
            except asyncio.CancelledError:
                raise
            except (NodeError, httpx.HTTPError, ChainError, OSError) as exc:
                log.warning("following %s: %s; retrying in %.1f s", self.node_url, exc, backoff)
            finally:
                # Also when the loop fails: a replica that stopped following says so at once.
                self.connected = False
            self.mempool_streamed = False
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 2.0)

    async def _on_head_event(self, data: dict[str, Any]) -> None:
        blocks = data.get("blocks")
        if blocks is None:
            # Named only: catch up with the node when this replica lacks one of them.
            if any(block_id not in self.store for block_id in data.get("applied", ())):
                await self.sync()
            return
        async with self.lock:
            try:
                for block in blocks:
                    self.apply_block(self._decode(block))
                return
            except UnknownParent:
                pass
        await self.sync()

    # --- mempool mirror --------------------------------------------------------------------

    async def _mempool_loop(self) -> None:
        """Poll the node's mempool, unless the head stream brings it (see _follow_loop)."""
        while True:
            try:
                if not self.mempool_streamed:
                    await self.poll_mempool()
            except asyncio.CancelledError:
                raise
            except (NodeError, httpx.HTTPError) as exc:
                log.debug("mempool poll failed: %s", exc)
            await asyncio.sleep(self.mempool_poll_s)

    async def poll_mempool(self) -> int:
        """Fetch transactions new since the last poll, verify their signatures (cached) and
        mirror them; returns how many were fetched."""
        update = await self.client.mempool_updates(self._last_seq)
        if int(update["last_seq"]) < self._last_seq:
            self._last_seq = 0  # the node restarted: its numbering starts over
            update = await self.client.mempool_updates(0)
        return await self._mirror(update)

    async def _mirror(self, update: dict[str, Any]) -> int:
        """Verify and mirror the transactions of a mempool update (a poll's answer or a
        ``mempool`` event); returns how many there were."""
        txs = update["transactions"]
        seqs = update.get("seqs")
        if not isinstance(seqs, list) or len(seqs) != len(txs):
            seqs = [None] * len(txs)
        numbered = [q for q in seqs if isinstance(q, int)]
        self._last_seq = max(self._last_seq, max(numbered) if numbered else int(update["last_seq"]))
        async with self.lock:
            state = self.state
            now = self.clock.now_ms()
            for data, seq in zip(txs, seqs, strict=True):
                cached = self.mempool.tx_cache.get(data)
                try:
                    tx = cached or Transaction.from_dict(data)
                except ChainError:
                    continue
                if cached is None:
                    self.mempool.tx_cache.put(tx, data)
                account = state.accounts.get(tx.sender)
                if account is None:
                    continue
                with contextlib.suppress(ChainError):
                    verify_transaction_signature(tx, account.key, self.sig_cache)
                    _ = tx.leaf_hash  # computed now, off the path of the block that holds it
                    self.mempool.add(tx, state, now, seq=seq if isinstance(seq, int) else None)
        return len(txs)
