"""The chain node: the core state machine wrapped with storage, a clock, peers and events.

The composition root and its lifecycle; each job lives in a module of its own:

* Start-up replays the block store through fork choice (integrity-checked, see
  :mod:`chain.node.blockstore`), then catches up from peers (:mod:`chain.node.sync`).
* Transactions enter the :class:`~chain.core.mempool.Mempool` and are gossiped to peers.
* Blocks (pushed, produced or pulled) go through fork choice under one lock, are stored
  durably before anyone is told about them, move the mempool, and are announced on the
  head stream (:mod:`chain.node.announce`) and gossiped to peers.
* The pool emitter's blocks come in two steps, prepared then committed
  (:mod:`chain.node.prepared`).
* With a producer key, the node builds a block at each of its own slots, and never twice for
  one slot (:mod:`chain.node.production`).
* Unknown parents are pulled from peers; a periodic sync catches up a node that was down.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Mapping
from datetime import UTC, datetime
from typing import Any

import httpx

from chain.client.genesis_file import load_genesis
from chain.core import (
    Block,
    ChainError,
    OnBlockResult,
    SignatureCache,
    State,
    Store,
    Transaction,
    compute_slot_at,
    create_genesis_state,
)
from chain.core.containers import encode_block
from chain.core.errors import UnknownParent
from chain.core.mempool import Mempool
from chain.node.announce import Announcer
from chain.node.blockstore import BlockStore, StoreCorrupted
from chain.node.config import NodeSettings
from chain.node.metrics import NodeMetrics
from chain.node.prepared import PreparedBlocks
from chain.node.production import Production
from chain.node.sync import PeerSync
from service_shell.clock import Clock, SystemClock, monotonic_ms
from service_shell.db import WalCheckpointer
from service_shell.events import Broadcaster
from service_shell.keys import KeyFile, read_key_file
from service_shell.requestauth import RequestVerifier
from service_shell.runtime import slot_phase_quiet_ms
from service_shell.supervisor import Supervisor
from service_shell.web import ApiError

log = logging.getLogger("bppool.node")

SERVER_VERSION = "bppool-0.1.0"
HOUSEKEEPING_S = 1.0  # how often expired and stale transactions leave the mempool


def iso_time(ms: int) -> str:
    """EOSIO's time format: ``2026-11-22T07:00:00.500``."""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]


class Node:
    """One chain node (single process, single worker: it owns its state)."""

    def __init__(
        self,
        settings: NodeSettings,
        *,
        clock: Clock | None = None,
        peer_transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        self.genesis = load_genesis(settings.genesis)
        self.chain_id = self.genesis.chain_id
        self.params = self.genesis.params
        paths = ([settings.key_file] if settings.key_file else []) + list(settings.key_files)
        self.keys: dict[str, KeyFile] = {k.account: k for k in (read_key_file(p) for p in paths)}
        self.blockstore = BlockStore(settings.store_url)
        self.sig_cache = SignatureCache()
        self.mempool = Mempool(max_size=settings.mempool_max, sig_cache=self.sig_cache)
        self.events = Broadcaster()
        # Builders' requests (POST /v1/producer/build_candidate): one replay guard for the node.
        self.builder_verifier = RequestVerifier(
            chain_id=self.chain_id, clock=self.clock, skew_ms=settings.request_skew_s * 1000
        )
        self.announcer = Announcer(self.events, self.mempool)
        self.store: Store | None = None
        self.head_block: Block | None = None
        self.metrics = NodeMetrics(lambda: self.store, lambda: len(self.mempool))
        # Every background task runs under it: logged, counted and restarted on failure.
        self.supervisor = Supervisor()
        self.supervisor.register(self.metrics.registry)
        self.ready = False
        # Fork choice, the state and the mempool change under this lock only.
        self.lock = asyncio.Lock()
        self.sync = PeerSync(self, peer_transport)
        self.prepared = PreparedBlocks(self)
        self.outcomes = self.prepared.outcomes
        self.production = Production(self)

    def quiet_ms(self) -> float:
        """How long the middle of the current slot lasts still (30 % to 68 % of it: blocks are
        produced and pool blocks committed at its start, the pool's next expected block is
        prepared 150 ms before its end); 0 outside it. The process's garbage collection pacer
        (service_shell.runtime) collects then, away from blocks, prepares and commits."""
        slot_ms = self.params.slot_ms
        return slot_phase_quiet_ms(
            self.clock.now_ms(),
            self.genesis.genesis_time,
            slot_ms,
            quiet_from_ms=slot_ms * 30 // 100,
            quiet_until_ms=slot_ms * 68 // 100,
        )

    # --- state -----------------------------------------------------------------------------

    @property
    def state(self) -> State:
        """The head state (503 ``not_ready`` while the block store loads)."""
        if self.store is None:
            raise ApiError(503, "not_ready", "the node is still loading its block store")
        return self.store.state

    @property
    def last_produced_slot(self) -> int:
        """The last slot this node produced a block for (stored, so it survives restarts)."""
        return self.production.last_slot

    def current_slot(self) -> int:
        """The slot of the node's clock."""
        return compute_slot_at(self.genesis.genesis_time, self.params.slot_ms, self.clock.now_ms())

    # --- lifecycle -------------------------------------------------------------------------

    def open(self, *, repair: bool = False) -> None:
        """Open the block store and replay it (raises :class:`StoreCorrupted` unless repair)."""
        self.blockstore.open(self.chain_id)
        while True:
            try:
                self._replay()
                break
            except StoreCorrupted as exc:
                if not repair:
                    raise
                removed = self.blockstore.repair(exc.height)
                log.warning("repair: %s; removed %d block(s) from height %d", exc, removed, exc.height)
        self.production.load()

    def _replay(self) -> None:
        store = Store(create_genesis_state(self.genesis), self.sig_cache)
        invalid: list[str] = []
        count = 0
        for row, block in self.blockstore.iter_verified():
            try:
                result = store.on_block(block)
            except ChainError as exc:
                log.warning("replay: dropping stored block %s at %d: %s", row.id[:16], row.height, exc)
                invalid.append(row.id)
                continue
            count += result.status != "duplicate"
        self.blockstore.delete_blocks(invalid)
        self.store = store
        head = store.get_block(store.head_id)
        self.head_block = head
        # Stored marks follow every head change; refresh the unfinalized part after a replay
        # that may have dropped invalid blocks.
        self.blockstore.mark_canonical(list(store.canonical_chain()), [])
        log.info("replayed %d block(s): head %d, LIB %d", count, store.head_height, store.lib_height)

    async def start(self, *, repair: bool = False) -> None:
        """Load the store (unless :meth:`open` ran already) and start the background loops."""
        if self.store is None:
            await asyncio.to_thread(self.open, repair=repair)
        self.ready = True
        if self.sync.peers:
            self.supervisor.supervise("peer_sync", self.sync.loop)
        if self.keys and self.settings.produce:
            self.supervisor.supervise("production", self.production.loop)
        self.supervisor.supervise("housekeeping", self._housekeeping_loop)
        self.supervisor.supervise("wal_checkpointer", WalCheckpointer(self.blockstore.engine).run)

    async def stop(self) -> None:
        """Stop the loops, end the streams, close connections and the store."""
        self.ready = False
        await self.supervisor.stop()
        self.announcer.close()
        await self.sync.aclose()
        self.blockstore.close()

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        """A one-off task (a gossip, housekeeping after a commit): failures logged and counted."""
        self.supervisor.spawn(getattr(coro, "__name__", "task").lstrip("_"), coro)

    async def _housekeeping_loop(self) -> None:
        while True:
            await asyncio.sleep(HOUSEKEEPING_S)
            if self.store is not None:
                async with self.lock:
                    self.mempool.on_head_change(self.state, [], [], self.clock.now_ms())

    # --- transactions ----------------------------------------------------------------------

    def submit_transaction(self, data: Any, *, gossip: bool = True) -> Transaction:
        """Admit a wire transaction to the mempool (raises on any failed check)."""
        try:
            tx = Transaction.from_dict(data)
            self.mempool.add(tx, self.state, self.clock.now_ms())
        except ChainError as exc:
            self.metrics.transactions_received.labels(result=exc.code).inc()
            raise
        self.metrics.transactions_received.labels(result="accepted").inc()
        self.announcer.transaction(tx)
        if gossip:
            self.sync.gossip_transaction(tx)
        return tx

    # --- blocks ----------------------------------------------------------------------------

    async def submit_block(self, data: Any, *, gossip: bool = True) -> tuple[Block, OnBlockResult]:
        """Take a wire block from outside (push or sync) through fork choice."""
        try:
            block = Block.from_dict(
                data,
                max_transactions=self.params.max_block_transactions,
                tx_cache=self.mempool.tx_cache,
            )
        except ChainError as exc:
            self.metrics.blocks_received.labels(result=exc.code).inc()
            raise
        # Verify the block is not from the future
        now = self.clock.now_ms()
        if block.header.timestamp > now + self.settings.max_clock_skew_ms:
            self.metrics.blocks_received.labels(result="from_future").inc()
            raise ApiError(
                400,
                "block_from_future",
                f"block for slot {block.slot} is {block.header.timestamp - now} ms ahead of the node's clock",
            )
        async with self.lock:
            try:
                result = self.accept(block)
            except UnknownParent:
                self.metrics.blocks_received.labels(result="unknown_parent").inc()
                self.sync.wake()
                raise
            except ChainError as exc:
                self.metrics.blocks_received.labels(result=exc.code).inc()
                raise
        self.metrics.blocks_received.labels(result=result.status).inc()
        if gossip and result.status != "duplicate":
            self.sync.gossip_block(block)
        return block, result

    def accept(self, block: Block, result: OnBlockResult | None = None) -> OnBlockResult:
        """Fork choice (unless ``result`` says it ran), then storage, mempool, events and
        metrics (call under :attr:`lock`)."""
        if self.store is None:
            raise ApiError(503, "not_ready", "the node is still loading its block store")
        started = monotonic_ms()
        if result is None:
            result = self.store.on_block(block)
        if result.status == "duplicate":
            return result
        encoded = encode_block(block)
        self.blockstore.save_block(
            block,
            encoded,
            received_ms=self.clock.now_ms(),
            applied=[b.id for b in result.applied],
            reverted=[b.id for b in result.reverted],
        )
        if result.applied:
            self.metrics.block_apply_seconds.observe((monotonic_ms() - started) / 1000)
            self.metrics.transactions_applied.inc(sum(len(b.transactions) for b in result.applied))
            if result.reverted:
                self.metrics.reorgs.inc()
            self.head_block = result.applied[-1]
            # Announced before the mempool drops what the block included: nothing can observe
            # the mempool in between (no await), and the announcement goes out sooner.
            self.announcer.head(self.store, self.head_block, result, {block.id: encoded})
            self.mempool.on_head_change(
                self.store.state, result.applied, result.reverted, self.clock.now_ms()
            )
        elif result.lib_changed:
            # A side block can show a branch's LIB above ours without becoming the head.
            self.announcer.lib(self.store)
        return result

    # --- the pool emitter's two-step push (see chain.node.prepared) -------------------------

    async def prepare_block(self, headers: Mapping[str, str], body: bytes, path: str) -> Block:
        """Validate a candidate for the slot's scheduled producer now, so that its commit
        (the producer's signature alone) needs no second validation.

        Only the scheduled producer may ask (a request signed with its key, ``headers`` its
        ``X-BP-*`` ones): anyone else could make the node validate blocks for nothing.
        """
        return await self.prepared.prepare(headers, body, path)

    def prepare_started(self) -> Callable[[], None]:
        """A prepare request has come in (its body may still be on its way): until the
        returned callable is called, a commit that overtakes it (sent right behind it on
        another connection) waits for it."""
        return self.prepared.started()

    async def commit_block(self, block_id: str, producer_signature: str) -> tuple[Block, OnBlockResult]:
        """Take a prepared block once its producer signed it: no second validation."""
        return await self.prepared.commit(block_id, producer_signature)

    # --- production and sync (see chain.node.production, chain.node.sync) -------------------

    async def produce(self, slot: int) -> Block | None:
        """Build, sign, store and announce this node's block for ``slot`` if it owns it."""
        return await self.production.produce(slot)

    async def sync_once(self) -> int:
        """Pull blocks from every peer that is ahead; returns how many were new."""
        return await self.sync.sync_once()
