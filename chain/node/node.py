"""The chain node: the core state machine wrapped with storage, a clock, peers and events.

* Start-up replays the block store through fork choice (integrity-checked, see
  :mod:`chain.node.blockstore`), then catches up from peers.
* Transactions enter the :class:`~chain.node.mempool.Mempool` and are gossiped to peers.
* Blocks (pushed, produced or pulled) go through fork choice under one lock, are stored
  durably before anyone is told about them, move the mempool, and are announced on the
  head stream and gossiped to peers.
* With a producer key, the node builds a block at each of its own slots, and never twice for
  one slot: the last produced slot is stored before a block leaves the node (double
  production would be slashed).
* Unknown parents are pulled from peers; a periodic sync catches up a node that was down.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson

from chain.client.decoding import BlockDecoder
from chain.client.genesis_file import load_genesis
from chain.client.http import AsyncNodeClient, NodeError
from chain.core import (
    Block,
    ChainError,
    OnBlockResult,
    SignatureCache,
    State,
    Store,
    Transaction,
    build_block,
    compute_slot_at,
    create_genesis_state,
    state_transition,
)
from chain.core.crypto import DOMAIN_BLOCK, verify_signature
from chain.core.errors import (
    BadProducerSignature,
    MalformedInput,
    UnknownParent,
    WrongParent,
    WrongProducer,
)
from chain.core.outcomes import Outcomes
from chain.core.schedule import get_scheduled_producer
from chain.core.state import RestoreBatch, UndoLog, compute_state_root
from chain.core.types import SignatureHex
from chain.node.blockstore import BlockStore, StoreCorrupted, encode_block
from chain.node.config import NodeSettings
from chain.node.mempool import Mempool
from chain.node.metrics import NodeMetrics
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
SYNC_BATCH = 200
MAX_PREPARED = 16
COMMIT_WAIT_MS = 2000  # how long a commit waits for its prepare still in flight
# Housekeeping after a commit waits this long: right after a block the node is busiest (the
# head stream, followers fetching the block and their mempool updates, the pool's members
# delivering for the slot); the next block is a slot away.
AFTER_COMMIT_DELAY_S = 0.1
# New mempool transactions go out on the head stream in batches at most this often: a busy
# mempool makes tens of events a second, an idle one none (followers used to poll it).
MEMPOOL_EVENT_DELAY_S = 0.01


@dataclass
class Prepared:
    """A candidate validated on the head state, waiting for its producer's signature."""

    block: Block
    head_id: str
    undo: UndoLog
    forward: RestoreBatch


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
        self._announce: list[Transaction] = []  # admitted, not yet on the head stream
        self._announce_at: asyncio.TimerHandle | None = None
        self.store: Store | None = None
        self.head_block: Block | None = None
        self.metrics = NodeMetrics(lambda: self.store, lambda: len(self.mempool))
        # Every background task runs under it: logged, counted and restarted on failure.
        self.supervisor = Supervisor()
        self.supervisor.register(self.metrics.registry)
        self.peers = [AsyncNodeClient(url, transport=peer_transport, timeout=2.0) for url in settings.peers]
        self.last_produced_slot = 0
        self.ready = False
        self._lock = asyncio.Lock()
        self._sync_now = asyncio.Event()
        self._prepared: dict[str, Prepared] = {}
        # Outcomes of prepared blocks by content: candidates differing only in their builder
        # are prepared by the signatures alone.
        self.outcomes = Outcomes()
        self._preparing = 0  # prepare requests in flight (see prepare_started())
        self._prepare_changed = asyncio.Event()
        # Prepares are signed requests: checked (and replays refused) as the pool's are.
        self.verifier = RequestVerifier(
            chain_id=self.chain_id, clock=self.clock, skew_ms=settings.request_skew_s * 1000
        )
        # Candidates of one slot share their transaction list: parsed once.
        self.decoder = BlockDecoder(self.mempool.tx_cache, self.params.max_block_transactions)

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
        if self.store is None:
            raise ApiError(503, "not_ready", "the node is still loading its block store")
        return self.store.state

    def current_slot(self) -> int:
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
        self.last_produced_slot = int(self.blockstore.get_meta("last_produced_slot") or 0)

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
        if self.peers:
            self.supervisor.supervise("peer_sync", self._sync_loop)
        if self.keys and self.settings.produce:
            self.supervisor.supervise("production", self._production_loop)
        self.supervisor.supervise("housekeeping", self._housekeeping_loop)
        self.supervisor.supervise("wal_checkpointer", WalCheckpointer(self.blockstore.engine).run)

    async def stop(self) -> None:
        """Stop the loops, end the streams, close connections and the store."""
        self.ready = False
        await self.supervisor.stop()
        if self._announce_at is not None:
            self._announce_at.cancel()
            self._announce_at = None
        self.events.close()
        for peer in self.peers:
            await peer.aclose()
        self.blockstore.close()

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        """A one-off task (a gossip, housekeeping after a commit): failures logged and counted."""
        self.supervisor.spawn(getattr(coro, "__name__", "task").lstrip("_"), coro)

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
        self._announce_transaction(tx)
        if gossip and self.peers:
            self._spawn(self._gossip_transaction(tx.to_dict()))
        return tx

    def _announce_transaction(self, tx: Transaction) -> None:
        """Put ``tx`` on the head stream (``mempool`` events, for followers mirroring the
        mempool), batched with whatever else is admitted within ``MEMPOOL_EVENT_DELAY_S``."""
        if not self.events.subscribers:
            return  # nobody listens; a new follower fetches what it missed itself
        self._announce.append(tx)
        if self._announce_at is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                self._publish_mempool()
                return
            self._announce_at = loop.call_later(MEMPOOL_EVENT_DELAY_S, self._publish_mempool)

    def _publish_mempool(self) -> None:
        self._announce_at = None
        txs, self._announce = self._announce, []
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

    async def _gossip_transaction(self, data: dict[str, Any]) -> None:
        for peer in self.peers:
            try:
                await peer.push_transaction(data)
            except NodeError as exc:
                if exc.status == 0:
                    self.metrics.peer_errors.labels(peer=peer.base_url).inc()

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
        async with self._lock:
            try:
                result = self._accept(block)
            except UnknownParent:
                self.metrics.blocks_received.labels(result="unknown_parent").inc()
                self._sync_now.set()
                raise
            except ChainError as exc:
                self.metrics.blocks_received.labels(result=exc.code).inc()
                raise
        self.metrics.blocks_received.labels(result=result.status).inc()
        if gossip and result.status != "duplicate" and self.peers:
            self._spawn(self._gossip_block(block))
        return block, result

    def _accept(self, block: Block, result: OnBlockResult | None = None) -> OnBlockResult:
        """Fork choice (unless ``result`` says it ran), then storage, mempool, events and
        metrics (call under the lock)."""
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
            state = self.store.state
            # Announced before the mempool drops what the block included: nothing can observe
            # the mempool in between (no await), and the announcement goes out sooner.
            self._publish_head(result, {block.id: encoded})
            self.mempool.on_head_change(state, result.applied, result.reverted, self.clock.now_ms())
        elif result.lib_changed:
            # A side block can show a branch's LIB above ours without becoming the head.
            self.events.publish("lib", {"height": self.store.lib_height, "id": self.store.lib_id})
        return result

    def _publish_head(self, result: OnBlockResult, encoded: dict[str, bytes]) -> None:
        state = self.state
        meta = state.chain
        head = self.head_block
        payload = {
            "height": meta.height,
            "id": state.head_id,
            "slot": meta.slot,
            "producer": head.header.producer if head else "",
            "builder": head.header.builder if head else "",
            "lib_height": self.store.lib_height if self.store else meta.lib_height,
            "lib_id": self.store.lib_id if self.store else state.lib_id,
            "applied": [b.id for b in result.applied],
            "reverted": [b.id for b in result.reverted],
            "blocks": [orjson.Fragment(encoded.get(b.id) or encode_block(b)) for b in result.applied],
            # Wall-clock acceptance time, for latency measurements from other processes.
            "accepted_unix_us": time.time_ns() // 1000,
        }
        self.events.publish("head", payload)
        if result.lib_changed:
            self.events.publish("lib", {"height": payload["lib_height"], "id": payload["lib_id"]})

    # --- prepare and commit (the pool emitter's two-step push) ------------------------------

    async def prepare_block(self, headers: Mapping[str, str], body: bytes, path: str) -> Block:
        """Validate a candidate for the slot's scheduled producer now, so that its commit
        (the producer's signature alone) needs no second validation.

        Only the scheduled producer may ask (a request signed with its key, ``headers`` its
        ``X-BP-*`` ones): anyone else could make the node validate blocks for nothing.
        """
        started = monotonic_ms()
        signed = self.verifier.read(headers)
        try:
            block = self.decoder.decode(body)
        except MalformedInput as exc:
            raise ApiError(400, "malformed", exc.message) from None
        header = block.header
        async with self._lock:
            state = self.state
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
            known = self.outcomes.find(state, block)
            if known is not None:
                # Same content as a block prepared before (the producer sends the block it
                # expects ahead of the slot): the signatures and the body's root, no transition.
                undo, forward = self.outcomes.check(state, block, known, producer_signature=False)
                self.metrics.block_prepares.labels(path="known").inc()
            else:
                undo = state_transition(state, block, self.sig_cache, producer_signature=False)
                forward = self.outcomes.remember(state, block, undo).forward
                state.undo(undo)
                self.metrics.block_prepares.labels(path="full").inc()
            if len(self._prepared) >= MAX_PREPARED:
                del self._prepared[next(iter(self._prepared))]
            self._prepared[block.id] = Prepared(block, state.head_id, undo, forward)
        self.metrics.block_prepare_seconds.observe((monotonic_ms() - started) / 1000)
        return block

    def prepare_started(self) -> Callable[[], None]:
        """A prepare request has come in (its body may still be on its way): until the
        returned callable is called, a commit that overtakes it (sent right behind it on
        another connection) waits for it."""
        self._preparing += 1
        done = False

        def finished() -> None:
            nonlocal done
            if not done:
                done = True
                self._preparing -= 1
                self._prepare_changed.set()

        return finished

    async def _await_prepared(self, block_id: str) -> None:
        deadline = monotonic_ms() + COMMIT_WAIT_MS
        while block_id not in self._prepared and self._preparing > 0:
            left = deadline - monotonic_ms()
            if left <= 0:
                return
            self._prepare_changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._prepare_changed.wait(), left / 1000)

    async def commit_block(self, block_id: str, producer_signature: str) -> tuple[Block, OnBlockResult]:
        """Take a prepared block once its producer signed it: no second validation."""
        if block_id not in self._prepared and self._preparing:
            await self._await_prepared(block_id)
        async with self._lock:
            prepared = self._prepared.get(block_id)
            if prepared is None:
                raise ApiError(
                    409, "not_prepared", f"block {block_id[:16]}… was not prepared here; push it instead"
                )
            state = self.state
            if state.head_id != prepared.head_id:
                del self._prepared[block_id]
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
            del self._prepared[block_id]
            block = prepared.block.with_signatures(producer_signature=SignatureHex(producer_signature))
            state.restore_batch(prepared.forward)
            result = self._accept(block, self.store.adopt(block, prepared.undo) if self.store else None)
        self.metrics.blocks_received.labels(result="committed").inc()
        if self.peers:
            self._spawn(self._gossip_block(block))
        self._spawn(self._after_commit())
        return block, result

    async def _after_commit(self) -> None:
        """Housekeeping after a commit, off its request and off the busy moment right after
        it: drop what was prepared on the old head (stale now, and refused as such meanwhile),
        and rehash the records restoring the prepared block marked, rather than during the
        next block (a block that comes sooner rehashes them itself)."""
        await asyncio.sleep(AFTER_COMMIT_DELAY_S)
        async with self._lock:
            self._prepared = {k: p for k, p in self._prepared.items() if p.head_id == self.state.head_id}
            self.outcomes.clear()
            if self.store is not None:
                compute_state_root(self.store.state)

    async def _gossip_block(self, block: Block) -> None:
        data = encode_block(block)
        for peer in self.peers:
            try:
                await peer.push_block(data)
            except NodeError as exc:
                if exc.status == 0:
                    self.metrics.peer_errors.labels(peer=peer.base_url).inc()

    # --- production ------------------------------------------------------------------------

    async def _production_loop(self) -> None:
        genesis_time, slot_ms = self.genesis.genesis_time, self.params.slot_ms
        while True:
            slot = self.current_slot() + 1
            await self.clock.sleep_until_ms(genesis_time + slot * slot_ms + self.settings.produce_offset_ms)
            # A failure is the supervisor's: logged, counted, and the loop goes on at a next slot.
            await self.produce(slot)

    async def produce(self, slot: int) -> Block | None:
        """Build, sign, store and announce this node's block for ``slot`` if it owns it."""
        if not self.keys:
            return None
        async with self._lock:
            state = self.state
            # Never build on or behind the head's slot, nor twice for one slot.
            if slot <= state.slot or slot <= self.last_produced_slot:
                return None
            keyfile = self.keys.get(get_scheduled_producer(state, slot))
            if keyfile is None:
                return None
            transactions = self.mempool.select(state, self.params.max_block_transactions)
            started = monotonic_ms()
            built = build_block(
                state,
                slot=slot,
                producer=keyfile.account,
                transactions=transactions,
                sig_cache=self.sig_cache,
                keep=True,
            )
            undo = built.undo or []
            try:
                block = built.block.signed_by_producer(keyfile.key)
                self.last_produced_slot = slot
                self.blockstore.set_meta("last_produced_slot", str(slot))
            except BaseException:
                state.undo(undo)
                raise
            self.mempool.remove(tx.id for tx, _ in built.rejected)
            self._accept(block, self.store.adopt(block, undo) if self.store else None)
            self.metrics.block_build_seconds.observe((monotonic_ms() - started) / 1000)
        self.metrics.blocks_produced.inc()
        log.info(
            "produced block %d for slot %d with %d transaction(s)",
            block.height,
            slot,
            len(block.transactions),
        )
        if self.peers:
            self._spawn(self._gossip_block(block))
        return block

    # --- sync ------------------------------------------------------------------------------

    async def _sync_loop(self) -> None:
        while True:
            await self.sync_once()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._sync_now.wait(), self.settings.sync_interval_s)
            self._sync_now.clear()

    async def sync_once(self) -> int:
        """Pull blocks from every peer that is ahead; returns how many were new."""
        added = 0
        for peer in self.peers:
            try:
                info = await peer.get_info()
            except NodeError:
                self.metrics.peer_errors.labels(peer=peer.base_url).inc()
                continue
            if info.get("chain_id") != self.chain_id:
                log.warning("peer %s is on another chain; ignoring it", peer.base_url)
                continue
            state = self.state
            ahead = info["head_block_num"] > state.height or (
                info["head_block_num"] == state.height and info["head_block_id"] < state.head_id
            )
            if ahead:
                added += await self._pull(peer, state.height + 1)
        return added

    async def _pull(self, peer: AsyncNodeClient, from_height: int) -> int:
        added = 0
        height = from_height
        while True:
            try:
                blocks = await peer.blocks(height, SYNC_BATCH)
            except NodeError:
                self.metrics.peer_errors.labels(peer=peer.base_url).inc()
                return added
            for data in blocks:
                try:
                    _, result = await self.submit_block(data, gossip=False)
                except UnknownParent:
                    # We are on another branch: fetch the peer's chain from our LIB.
                    lib = self.store.lib_height if self.store else 0
                    if height > lib + 1:
                        return added + await self._pull(peer, lib + 1)
                    return added
                except (ChainError, ApiError) as exc:
                    log.warning("sync from %s: block refused: %s", peer.base_url, exc)
                    return added
                added += result.status != "duplicate"
            if len(blocks) < SYNC_BATCH:
                return added
            height = blocks[-1]["header"]["height"] + 1

    async def _housekeeping_loop(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            if self.store is not None:
                async with self._lock:
                    self.mempool.on_head_change(self.state, [], [], self.clock.now_ms())
