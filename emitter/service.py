"""The pool's block emitter: collect member candidates per pool slot, emit exactly one block.

Life of a pool slot:

1. **Open** at the slot's start: the replica's head is the parent; ``slot_open`` goes to every
   member on the slot feed. If the head moves before anything is emitted (a late block for the
   previous slot), the slot re-opens on the new parent.
2. **Intake**: each delivery is checked cheapest first (producer, builder, slot, lateness,
   duplicate, equivocation, parent), then validated on the replica in arrival order. The
   strategy decides after each validation; ``first_delivered`` emits the first valid one at
   once. Every arrival is logged (with its verdict) before the member is answered.
3. **Emit**: the block is countersigned with the pool key and recorded under the primary key
   on its slot *before* it is pushed — exactly one block per slot, across restarts and even
   across two emitters sharing a database. It is pushed to the nodes in turn until one takes it;
   after a restart, a recorded block no node took is pushed again while it extends the chain.
   A record the storage refuses emits nothing and leaves the replica as it was.
4. **Cutoff**: with nothing emitted by ``cutoff_ms``, the strategy gets a last word, then the
   fallback runs (``local``: build from the mempool; ``empty``; ``none``: the slot is missed).
5. **Close** at the cutoff (deliveries after an emission are still judged until then, against
   the parent state): the outcome is logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson

from chain.client.decoding import BlockDecoder, encode_candidate
from chain.client.follower import ChainFollower
from chain.client.genesis_file import load_genesis
from chain.client.http import AsyncNodeClient, NodeError
from chain.core import Block, ChainError, OnBlockResult, build_block, compute_slot_at, state_transition
from chain.core.codec import canonical_bytes_trusted
from chain.core.containers import encode_block
from chain.core.errors import (
    BadBuilderSignature,
    InvalidTransaction,
    MalformedInput,
    StateRootMismatch,
    WrongParent,
)
from chain.core.outcomes import Outcomes, content_key
from chain.core.schedule import get_next_slots_of, get_scheduled_producer
from chain.core.state import State, UndoLog
from chain.core.transition import verify_block_signatures
from emitter import crud
from emitter.config import EmitterSettings
from emitter.core import FALLBACKS, STRATEGIES, Arrival, SlotView
from emitter.crud import AlreadyEmitted, EventRecord
from emitter.eventlog import EventLogReader
from emitter.faults import Faults
from emitter.logwriter import EventWriter
from emitter.metrics import EmitterMetrics
from emitter.storage import StorageState, StorageUnavailable
from pool_protocol.applications import Application
from pool_protocol.outcomes import VALID_VERDICTS
from pool_protocol.requests import request_headers
from service_shell.clock import Clock, SystemClock, monotonic_ms
from service_shell.db import WalCheckpointer, make_engine, run_migrations
from service_shell.events import Broadcaster
from service_shell.keys import read_key_file
from service_shell.rawhttp import RawConnection, RawHttpError, RawPool, RawTimeout
from service_shell.requestauth import RequestVerifier
from service_shell.supervisor import Supervisor
from service_shell.web import ApiError

PREPARE_PATH = "/v1/node/prepare_block"
log = logging.getLogger("bppool.emitter")

MIGRATIONS = Path(__file__).parent / "migrations"
VERSION_TABLE = "alembic_version_emitter"
DEFAULT_CONSTITUTION = Path(__file__).parent / "constitution.md"
EXPECT_POLL_S = 0.02  # how often the expected block's inputs (head, slot, mempool) are looked at
EXPECT_GUARD_MS = 10  # no revalidation this close to a slot's opening
QUIET_MARGIN_MS = 10  # garbage collection ends this long before a pool slot needs the process
QUIET_FAR_MS = 1000.0  # "quiet" when no pool slot is in sight


@dataclass
class Candidate:
    """One delivery of the open slot."""

    seq: int
    member: str
    block: Block
    arrival_ms: int
    offset_ms: int
    fees: int
    valid: bool | None = None
    verdict: str | None = None
    reason: str = ""

    @property
    def block_id(self) -> str:
        return self.block.id


@dataclass
class SlotRun:
    """The pool slot being collected."""

    slot: int
    start_ms: int
    cutoff_at_ms: int
    prev_id: str
    height: int
    opened_ms: int
    candidates: list[Candidate] = field(default_factory=list)
    by_member: dict[str, Candidate] = field(default_factory=dict)
    emitted: Block | None = None
    emitted_undo: list[Any] = field(default_factory=list)
    source: str | None = None
    winner: str | None = None
    reason: str = ""
    accepted_by: str | None = None  # the node that took the emitted block (recorded at close)
    closed: bool = False
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    # Verdicts by candidate content (header minus builder, and the exact transactions):
    # candidates built from one mempool differ only in their builder.
    verdicts: dict[tuple[Any, ...], tuple[str, str]] = field(default_factory=dict)
    # The node validates each distinct candidate content in parallel with us (prepare).
    # True: prepared at the node; False: not prepared; None: the node did not answer.
    prepares: dict[tuple[Any, ...], asyncio.Task[bool | None]] = field(default_factory=dict)


@dataclass(frozen=True)
class Expected:
    """The block members are expected to build for a pool slot, validated ahead: the
    mempool's selection of the transactions numbered up to ``tx_seq`` on ``prev_id``."""

    slot: int
    prev_id: str
    tx_seq: int
    tx_count: int


def verdict_for(exc: ChainError) -> str:
    """The arrival verdict for a validation failure."""
    if isinstance(exc, StateRootMismatch):
        return "state_root_mismatch"
    if isinstance(exc, BadBuilderSignature):
        return "bad_builder_signature"
    if isinstance(exc, WrongParent):
        return "wrong_parent"
    if isinstance(exc, InvalidTransaction):
        return "invalid_transaction"
    return exc.code


REJECTION_STATUS = {
    "malformed": 400,
    "wrong_producer": 400,
    "builder_mismatch": 400,
    "wrong_slot": 409,
    "late": 409,
    "duplicate": 409,
    "equivocation": 409,
    "wrong_parent": 409,
}


class Emitter:
    """The emitter of one pool (one process; it owns the pool's producer key)."""

    def __init__(
        self,
        settings: EmitterSettings,
        *,
        clock: Clock | None = None,
        node_transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        self.genesis = load_genesis(settings.genesis)
        self.params = self.genesis.params
        if settings.cutoff_ms >= self.params.slot_ms:
            raise ValueError(
                f"cutoff_ms {settings.cutoff_ms} must be shorter than the slot ({self.params.slot_ms} ms)"
            )
        keyfile = read_key_file(settings.pool_key_file)
        self.pool = keyfile.account
        self.pool_key = keyfile.key
        self.chain_id = self.genesis.chain_id
        # Every background task runs under it: logged, counted and restarted on failure.
        self.supervisor = Supervisor()
        # The pool's own blocks are adopted as they are emitted: head events only name blocks,
        # and the replica fetches those of other producers (one request each time).
        self.follower = ChainFollower(
            self.genesis,
            settings.node_urls[0],
            transport=node_transport,
            clock=self.clock,
            stream_blocks=False,
            supervisor=self.supervisor,
        )
        self.follower.listeners.append(self._on_head_change)
        self.pushers = [
            AsyncNodeClient(url, transport=node_transport, timeout=settings.push_timeout_s)
            for url in settings.node_urls
        ]
        # Emissions are written on the emission path: the log is checkpointed in the
        # background (WalCheckpointer), never by an emission's commit.
        self.engine = make_engine(settings.db_url, background_checkpoints=True)
        self.writer = EventWriter(self.engine, supervisor=self.supervisor)
        # Storage errors are a state of the service (see emitter.storage), not a crash.
        self.storage = StorageState(self.engine, VERSION_TABLE)
        self.faults = Faults.from_env()
        # Bounded like every push: a node that stalls fails the two-step push within it.
        self.raw_pool = RawPool(settings.node_urls[0], timeout=settings.push_timeout_s)
        self.decoder = BlockDecoder(self.follower.mempool.tx_cache, self.params.max_block_transactions)
        # Validated outcomes by block content: the expected block of the next slot (validated
        # ahead) and every candidate validated, so candidates of the same content cost only
        # their signature checks.
        self.outcomes = Outcomes()
        self.expected: Expected | None = None
        self._expected_body: bytes | None = None  # still to be prepared at the node
        constitution = settings.constitution_file or DEFAULT_CONSTITUTION
        self.constitution_text = Path(constitution).read_text()
        self.constitution_hash = hashlib.sha256(self.constitution_text.encode()).hexdigest()
        self.strategy_name = settings.strategy
        self.fallback = settings.fallback
        self.event_log = EventLogReader(self.engine)
        # Extensions (the DAC) attach here: started and stopped with the emitter.
        self.extensions: list[Any] = []
        self.application_hooks: list[Callable[[str], None]] = []
        self.admission_by_vote = False
        self.members: dict[str, dict[str, Any]] = {}
        self.run: SlotRun | None = None
        self.last_closed_slot = 0
        self.feed = Broadcaster()
        self.ready = False
        self.verifier = RequestVerifier(
            chain_id=self.chain_id, clock=self.clock, skew_ms=settings.request_skew_s * 1000
        )
        self._prepare_ms = 0  # the timestamp of the last prepare request signed
        self._seq = 0
        self.metrics = EmitterMetrics(self)  # last: its collectors read the fields above

    # --- lifecycle -------------------------------------------------------------------------

    def open_db(self) -> None:
        """Migrate the database, load the members and check that it takes writes (a service
        started on a read-only database is not ready until it does)."""
        run_migrations(self.engine, MIGRATIONS, VERSION_TABLE)
        self.reload_members()
        self.storage.check()

    def reload_members(self) -> None:
        self.members = {m["account"]: m for m in crud.list_members(self.engine)}

    async def start(self) -> None:
        await asyncio.to_thread(self.open_db)
        self.writer.start()
        await self.raw_pool.fill()
        await self.follower.start()
        for extension in self.extensions:
            await extension.start()
        self.supervisor.supervise("slot_loop", self._slot_loop)
        self.supervisor.supervise("wal_checkpointer", WalCheckpointer(self.engine).run)
        self.supervisor.supervise("storage_watch", self.storage.watch)
        if self.settings.expect_lead_ms > 0:
            self.supervisor.supervise("expect_loop", self._expect_loop)

    async def stop(self) -> None:
        self.ready = False
        for extension in reversed(self.extensions):
            await extension.stop()
        await self.supervisor.stop()
        self.feed.close()
        await self.writer.stop()
        self.raw_pool.close()
        await self.follower.stop()
        for client in self.pushers:
            await client.aclose()
        self.engine.dispose()

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """A one-off task (a push, a prepare, warming connections): failures logged and counted."""
        return self.supervisor.spawn(getattr(coro, "__name__", "task").lstrip("_"), coro)

    def not_ready(self) -> dict[str, Any]:
        """Why the service is not ready, by reason (empty when ready): not started, the
        replica not following the node's canonical head, storage refusing writes, background tasks down."""
        reasons: dict[str, Any] = {}
        if not self.ready:
            reasons["starting"] = "the replica is catching up with the node"
        lag = self.follower.lag()
        if lag is not None:
            reasons["following"] = lag
        if not self.storage.ok:
            reasons["storage"] = self.storage.describe()
        reasons.update(self.supervisor.reasons())
        return reasons

    # --- time ------------------------------------------------------------------------------

    def slot_start(self, slot: int) -> int:
        return self.genesis.genesis_time + slot * self.params.slot_ms

    def current_slot(self) -> int:
        return compute_slot_at(self.genesis.genesis_time, self.params.slot_ms, self.clock.now_ms())

    def next_pool_slots(self, count: int = 12) -> list[int]:
        """The pool's next slots by the replica's schedule (the current one if still open)."""
        state = self.follower.state
        current = self.current_slot()
        first = max(current, state.slot + 1)
        slots = []
        if (
            get_scheduled_producer(state, first) == self.pool
            and self.clock.now_ms() < self.slot_start(first) + self.settings.cutoff_ms
        ):
            slots.append(first)
        slots += get_next_slots_of(state, self.pool, first, count - len(slots))
        return slots[:count]

    def quiet_ms(self) -> float:
        """How long nothing of a pool slot needs this process: 0 while a slot is open or its
        expected block is due; else the time until that, less a margin."""
        run = self.run
        if run is not None and not run.closed:
            return 0.0
        now = self.clock.now_ms()
        upcoming = self.next_pool_slots(1)
        if not upcoming:
            return QUIET_FAR_MS
        slot = upcoming[0]
        busy_at = self.slot_start(slot)
        expected = self.expected
        if self.settings.expect_lead_ms and (
            expected is None or expected.slot != slot or self._expected_body
        ):
            busy_at -= self.settings.expect_lead_ms
        return float(max(0, busy_at - now - QUIET_MARGIN_MS))

    # --- the slot loop ---------------------------------------------------------------------

    async def _slot_loop(self) -> None:
        await self.follower.synced.wait()
        await self._redeliver()
        try:
            await asyncio.to_thread(self._log_feed_open)
        except Exception:  # slots run all the same; the next ones then count for participation
            log.exception("could not log the opening of the slot feed")
        self.ready = True
        while True:
            # A replica being rebuilt (after a failure of its follower) is no parent to build on.
            await self.follower.synced.wait()
            upcoming = self.next_pool_slots(1)
            if not upcoming or upcoming[0] <= self.last_closed_slot:
                # Nothing to open now: look again at the next slot boundary.
                await self.clock.sleep_until_ms(self.slot_start(self.current_slot() + 1))
                continue
            slot = upcoming[0]
            await self.clock.sleep_until_ms(self.slot_start(slot))
            if get_scheduled_producer(self.follower.state, slot) != self.pool:
                continue
            await self.run_slot(slot)

    def _log_feed_open(self) -> None:
        """Log that the slot feed is open from the slot now in progress: members reconnect
        from here, and the pool slots right after it do not count against them (docs/dac.md)."""
        crud.append_events(
            self.engine,
            events=[
                EventRecord(
                    kind=crud.SERVICE_EVENT,
                    ts_ms=self.clock.now_ms(),
                    slot=self.current_slot(),
                    verdict=crud.FEED_OPEN,
                    reason="the pool service started running slots",
                )
            ],
        )

    async def _redeliver(self) -> None:
        """After a restart: push again the recorded emissions no node is known to have taken,
        oldest first, while each still extends the chain (its parent is the head, its slot
        after the head's). One the chain has gone past stays off it: pushing it would fork."""
        try:
            with self.storage.writing():
                rows = crud.unaccepted_emissions(self.engine, after_slot=self.follower.state.slot)
        except StorageUnavailable:
            return
        for row in rows:
            data = bytes(row["data"])
            header = orjson.loads(data)["header"]
            state = self.follower.state
            if header["prev_id"] != state.head_id or row["slot"] <= state.slot:
                log.warning(
                    "slot %d: recorded block %s was never taken and no longer extends the chain",
                    row["slot"],
                    row["block_id"][:16],
                )
                continue
            log.info(
                "slot %d: pushing recorded block %s again (no node had taken it)",
                row["slot"],
                row["block_id"][:16],
            )
            await self._push(data, row["slot"], None)
            self.faults.hit("recovery.after_push", row["slot"])
            await self.follower.sync()

    async def run_slot(self, slot: int) -> None:
        """Open, collect, decide, fall back if needed, and close one pool slot."""
        try:
            with self.storage.writing():
                existing = crud.get_emission(self.engine, slot=slot)
        except StorageUnavailable:
            # Whether the slot has its block cannot be known: nothing is emitted for it.
            self.metrics.slot_outcomes.labels(outcome="missed").inc()
            self.last_closed_slot = slot
            return
        if existing is not None:
            # A restart inside a window: this slot has its block; never emit another.
            log.info("slot %d already emitted %s; pushing it again", slot, existing["block_id"][:16])
            self.last_closed_slot = slot
            self._spawn(self._push(bytes(existing["data"]), slot, None))
            return
        state = self.follower.state
        run = SlotRun(
            slot=slot,
            start_ms=self.slot_start(slot),
            cutoff_at_ms=self.slot_start(slot) + self.settings.cutoff_ms,
            prev_id=state.head_id,
            height=state.height + 1,
            opened_ms=self.clock.now_ms(),
        )
        self.run = run
        self.metrics.pool_slot.set(slot)
        self._spawn(self.raw_pool.fill())  # warm connections for this slot's prepares
        self._publish_open(run, reopen=False)
        grace_at = run.start_ms + self.settings.grace_ms
        try:
            # The slot stays open until the cutoff even once emitted: later deliveries are still
            # judged (against the parent state) and count as valid deliveries for the rewards.
            while self.clock.now_ms() < run.cutoff_at_ms:
                deadline = run.cutoff_at_ms
                if self.strategy_name == "fair_rotation" and self.clock.now_ms() < grace_at:
                    deadline = grace_at
                await self._wait(run, deadline)
                if run.emitted is None:
                    await self._decide_or_note(run)
            if run.emitted is None:
                await self._decide_or_note(run)
            if run.emitted is None:
                await self._fallback(run)
        except StorageUnavailable as exc:
            run.reason = exc.message
        except asyncio.CancelledError:
            raise  # shutting down: the slot is left open (a restart inside it picks it up)
        except Exception:
            # A slot that failed is closed all the same: it counts (as missed).
            self._close(run)
            raise
        self._close(run)

    async def _decide_or_note(self, run: SlotRun) -> None:
        """:meth:`decide`; an emission the storage refused leaves the slot to the fallback."""
        try:
            await self.decide(run)
        except StorageUnavailable as exc:
            run.reason = exc.message

    # --- the block expected for the next slot ------------------------------------------------

    async def _expect_loop(self) -> None:
        """Validate the block members are expected to build, ahead of each pool slot."""
        await self.follower.synced.wait()
        while True:
            await self._expect()
            await asyncio.sleep(EXPECT_POLL_S)

    def _expect_slot(self, now_ms: int) -> int | None:
        """The pool slot to validate ahead for: the next one not yet open, if it opens within
        the lead time (and not in the last few milliseconds, when members are about to build)."""
        state = self.follower.state
        slot = max(self.current_slot(), state.slot, self.run.slot if self.run else 0) + 1
        # Only the slots opening within the lead time are candidates (one, unless the lead is
        # longer than a slot): a look at each, not a scan of the schedule every few ms.
        while (ahead := self.slot_start(slot) - now_ms) <= self.settings.expect_lead_ms:
            if ahead >= EXPECT_GUARD_MS and get_scheduled_producer(state, slot) == self.pool:
                return slot
            slot += 1
        return None

    async def _expect(self) -> None:
        now = self.clock.now_ms()
        slot = self._expect_slot(now)
        if slot is None:
            return
        follower = self.follower
        mempool = follower.mempool
        expected = self.expected
        if expected is not None and expected.slot == slot and expected.prev_id == follower.state.head_id:
            # Once per slot and parent: what arrives later goes into a later slot's block.
            if self._expected_body is not None:
                await self._prepare_expected()
            return
        async with follower.lock:
            state = follower.state
            tx_seq = mempool.last_seq
            txs = mempool.select(state, self.params.max_block_transactions, max_seq=tx_seq)
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
                return
            undo = built.undo or []
            try:
                self.outcomes.remember(state, built.block, undo)
            finally:
                state.undo(undo)
            self.expected = Expected(
                slot=slot,
                prev_id=state.head_id,
                tx_seq=tx_seq,
                tx_count=len(built.block.transactions),
            )
        self.metrics.expected_blocks.inc()
        log.debug(
            "slot %d: expected block of %d transactions (up to tx_seq %d) validated ahead",
            slot,
            len(built.block.transactions),
            tx_seq,
        )
        self.decoder.expect(built.block)
        self._expected_body = encode_candidate(built.block)
        await self._prepare_expected()

    async def _prepare_expected(self) -> None:
        """Have the node validate the expected block too, so a member's candidate of the same
        content is prepared there by its signatures alone. The node may not hold the parent
        yet (our previous block on its way): then this is tried again on the next look."""
        body, expected = self._expected_body, self.expected
        if body is None or expected is None:
            return
        headers = self._prepare_headers(body)
        try:
            await self.pushers[0].prepare_block(body, headers)
        except NodeError as exc:
            if exc.code != "wrong_parent":
                self._expected_body = None
            log.debug("slot %d: the node did not prepare the expected block: %s", expected.slot, exc)
        else:
            self._expected_body = None

    def _apply(self, state: State, block: Block) -> UndoLog:
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

    async def _wait(self, run: SlotRun, until_ms: int) -> None:
        """Until ``until_ms`` on the clock or a change to the run, whichever comes first."""
        run.changed.clear()
        timer = asyncio.ensure_future(self.clock.sleep_until_ms(until_ms))
        changed = asyncio.ensure_future(run.changed.wait())
        try:
            await asyncio.wait({timer, changed}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (timer, changed):
                task.cancel()

    def _publish_open(self, run: SlotRun, *, reopen: bool) -> None:
        self.feed.publish(
            "slot_open",
            {
                "slot": run.slot,
                "height": run.height,
                "prev_id": run.prev_id,
                "slot_start_ms": run.start_ms,
                "deadline_ms": run.cutoff_at_ms,
                "pool": self.pool,
                "strategy": self.strategy_name,
                "reopen": reopen,
                # Build from the mempool's transactions numbered up to this (the node's
                # numbering): the block validated ahead, so a matching candidate is judged by
                # its signatures alone. Absent when nothing was validated ahead.
                "tx_seq": self._expected_seq(run),
            },
        )

    def _expected_seq(self, run: SlotRun) -> int | None:
        expected = self.expected
        if expected is not None and expected.slot == run.slot and expected.prev_id == run.prev_id:
            return expected.tx_seq
        return None

    def _on_head_change(self, result: OnBlockResult) -> None:
        """The replica's head moved: re-open the open slot on the new parent if needed."""
        run = self.run
        state = self.follower.state
        self.metrics.head_height.set(state.height)
        if run is None or run.closed or run.emitted is not None or state.head_id == run.prev_id:
            return
        run.prev_id = state.head_id
        run.height = state.height + 1
        for candidate in run.candidates:
            if candidate.valid:
                candidate.valid = False  # built on the old parent: no longer emittable
        log.info("slot %d re-opened on new head %d", run.slot, state.height)
        self._publish_open(run, reopen=True)

    def _view(self, run: SlotRun) -> tuple[list[Arrival], SlotView]:
        arrivals = [
            Arrival(c.seq, c.member, c.block_id, c.offset_ms, c.valid, c.fees) for c in run.candidates
        ]
        view = SlotView(
            slot=run.slot,
            now_offset_ms=self.clock.now_ms() - run.start_ms,
            cutoff_ms=self.settings.cutoff_ms,
            grace_ms=self.settings.grace_ms,
            members=tuple(sorted(a for a, m in self.members.items() if m["status"] == crud.ACTIVE)),
        )
        return arrivals, view

    async def decide(self, run: SlotRun) -> None:
        """Ask the strategy; emit what it picks (re-validating a deferred candidate)."""
        async with self.follower.lock:
            if run.emitted is not None or run.closed:
                return
            arrivals, view = self._view(run)
            decision = STRATEGIES[self.strategy_name](arrivals, view)
            if decision.action != "emit":
                return
            candidate = next(c for c in run.candidates if c.block_id == decision.block_id)
            try:
                undo = self._apply(self.follower.state, candidate.block)
            except ChainError as exc:
                candidate.valid = False
                log.warning("deferred candidate %s no longer valid: %s", candidate.block_id[:16], exc)
                return
            self._emit(
                run, candidate.block, undo, source="member", winner=candidate.member, reason=decision.reason
            )

    # --- emission --------------------------------------------------------------------------

    def _emission_row(self, run: SlotRun, block: Block, data: bytes, source: str) -> dict[str, Any]:
        return {
            "slot": run.slot,
            "block_id": block.id,
            "height": block.height,
            "builder": block.header.builder,
            "source": source,
            "emitted_ms": self.clock.now_ms(),
            "fees": block.total_fees,
            "data": data,
            "accepted_by": None,
        }

    def _emit(
        self,
        run: SlotRun,
        candidate: Block,
        undo: list[Any],
        *,
        source: str,
        winner: str | None,
        reason: str,
        arrival: EventRecord | None = None,
        started_ms: float | None = None,
    ) -> bool:
        """Countersign, record (unique slot), adopt into the replica and push. Called under
        the replica lock with ``candidate`` applied to the replica state; when nothing is
        emitted (the slot has its block already, or the storage refused the record) the
        replica is put back as it was.

        The record is committed before any byte of the signed block leaves the process (the
        node's prepare of the unsigned candidate may have gone earlier): a block on chain is
        always the recorded one, and a recorded one is pushed again after a restart."""
        kind = "emit" if source == "member" else "fallback"
        try:
            signed = candidate.signed_by_producer(self.pool_key)
            self.faults.hit(f"{kind}.after_sign", run.slot)
            data = encode_block(signed)
            row = self._emission_row(run, signed, data, source)
            event = EventRecord(
                kind="emission",
                ts_ms=row["emitted_ms"],
                slot=run.slot,
                member=winner,
                block_id=signed.id,
                verdict=source,
                reason=reason,
                fees=row["fees"],
                tx_count=len(signed.transactions),
                data={"height": signed.height, "strategy": self.strategy_name},
            )
            with self.storage.writing():
                if arrival is not None:
                    crud.record_arrival(self.engine, arrival=arrival, emission=row, extra=[event])
                else:
                    crud.record_emission(self.engine, emission=row, events=[event])
        except AlreadyEmitted:
            self.follower.state.undo(undo)
            log.warning("slot %d: already emitted elsewhere; not emitting %s", run.slot, signed.id[:16])
            self._deliver_recorded(run)
            return False
        except BaseException:
            # Whatever failed (the storage above all), the replica must not keep a block that
            # was not emitted: it would refuse the node's next blocks as not following it.
            self.follower.state.undo(undo)
            raise
        self.faults.hit(f"{kind}.after_record", run.slot)
        # The block is on record: hand it to the node before any bookkeeping of ours.
        prepare = run.prepares.get(self._content_key(candidate)) if source == "member" else None
        commit = self._start_commit(signed) if prepare is not None else None
        if commit is not None:
            self.faults.hit("emit.after_commit_sent", run.slot)
        self._spawn(self._deliver(run.slot, signed, data, prepare, commit, started_ms))
        # Mark the run before adopting: adopting notifies the head listener, which must see
        # the slot as filled (not as a head that moved under an open slot).
        run.emitted = signed
        run.emitted_undo = undo
        run.source = source
        run.winner = winner
        run.reason = reason
        self.follower.adopt(signed, undo)
        run.changed.set()
        if winner:
            self.metrics.wins.labels(member=winner).inc()
        self.metrics.last_emission.set(self.clock.now_ms() / 1000)
        return True

    def _deliver_recorded(self, run: SlotRun) -> None:
        """The slot has its record already (another emitter on this database): that block
        goes to the nodes, and the slot counts as filled by it, so nothing here signs
        another one for it. The replica learns the block from the node."""
        try:
            with self.storage.writing():
                recorded = crud.get_emission(self.engine, slot=run.slot)
        except StorageUnavailable:
            return
        if recorded is None:
            return
        data = bytes(recorded["data"])
        run.emitted = Block.from_dict(orjson.loads(data), tx_cache=self.follower.mempool.tx_cache)
        run.source = recorded["source"]
        run.winner = recorded["builder"] if recorded["source"] == "member" else None
        run.reason = "recorded by another emitter"
        run.changed.set()
        self._spawn(self._push(data, run.slot, None))

    def _start_commit(self, signed: Block) -> RawConnection | None:
        """Send the commit (block id and our signature) now, on a warm raw connection; the
        node answers it after the prepare it received earlier."""
        conn = self.raw_pool.take()
        if conn is None:
            return None
        body = orjson.dumps({"block_id": signed.id, "producer_signature": signed.producer_signature})
        conn.send("POST", "/v1/node/commit_block", body, {})
        return conn

    def _prepare_headers(self, body: bytes) -> dict[str, str]:
        """The pool key's signed headers for a prepare of ``body`` (a known list's body is
        hashed from its saved state: once a slot, not once a candidate). Each prepare gets a
        timestamp of its own, so a retry of the same body is a new request, not a replay."""
        self._prepare_ms = max(self.clock.now_ms(), self._prepare_ms + 1)
        return request_headers(
            self.pool_key,
            self.pool,
            chain_id=self.chain_id,
            pool=self.pool,
            method="POST",
            path=PREPARE_PATH,
            timestamp=self._prepare_ms,
            body=body,
            body_sha256=self.decoder.body_sha256(body),
        )

    def _start_prepare(self, body: bytes) -> asyncio.Task[bool | None]:
        """Have the followed node validate a candidate while we do (the two-step push).

        The request goes onto the wire right here, before our own validation starts: the node
        and the emitter then validate in parallel, on two cores.
        """
        headers = self._prepare_headers(body)
        conn = self.raw_pool.take()
        if conn is not None:
            conn.send("POST", PREPARE_PATH, body, headers)
            return self._spawn(self._prepared(conn))
        self._spawn(self.raw_pool.fill())  # warm for the next candidate

        async def prepare_by_client() -> bool | None:
            try:
                await self.pushers[0].prepare_block(body, headers)
            except NodeError as exc:
                log.debug("prepare refused: %s", exc)
                return None if exc.status == 0 else False
            return True

        return self._spawn(prepare_by_client())

    async def _prepared(self, conn: RawConnection) -> bool | None:
        """The prepare's answer, within the push timeout: ``True`` when the node prepared
        it, ``None`` when it did not answer in time. A failed or timed-out connection is
        closed by ``response`` and not given back."""
        try:
            response = await conn.response()
        except RawTimeout as exc:
            self.metrics.push_failures.labels(node=self.raw_pool.base_url).inc()
            log.warning("prepare: %s", exc)
            return None
        except RawHttpError as exc:
            log.debug("prepare failed: %s", exc)
            return False
        finally:
            self._spawn(self.raw_pool.fill())
        self.raw_pool.give_back(conn)
        return response.status == 200

    async def _deliver(
        self,
        slot: int,
        signed: Block,
        data: bytes,
        prepare: asyncio.Task[bool | None] | None,
        commit: RawConnection | None,
        started_ms: float | None,
    ) -> None:
        """Finish the two-step push (prepared + committed), or push the whole block. The
        raw prepare and commit are bounded by the push timeout; when the followed node stalls
        on them the full push tries the other ``node_urls`` first."""
        prepared: bool | None = False
        stalled = False
        if prepare is not None:
            try:
                prepared = await prepare
            except Exception:
                prepared = False
            stalled = prepared is None
        if prepared:
            committed = False
            if commit is not None:
                try:
                    response = await commit.response()
                    committed = response.status == 200
                    self.raw_pool.give_back(commit)
                except RawTimeout:
                    self.metrics.push_failures.labels(node=self.raw_pool.base_url).inc()
                    log.warning("slot %d: no answer to the commit within the push timeout", slot)
                    stalled = True
                except RawHttpError as exc:
                    log.info("slot %d: commit failed (%s); pushing the block", slot, exc)
            else:
                try:
                    await self.pushers[0].commit_block(signed.id, signed.producer_signature)
                    committed = True
                except NodeError as exc:
                    log.info("slot %d: commit refused (%s); pushing the block", slot, exc)
                    stalled = exc.status == 0
            self._spawn(self.raw_pool.fill())
            if committed:
                if started_ms is not None:
                    self.metrics.emit_seconds.observe((monotonic_ms() - started_ms) / 1000)
                self.metrics.deliveries.labels(method="commit").inc()
                self._accepted(slot, self.pushers[0].base_url)
                log.info("slot %d: block %s committed", slot, signed.id[:16])
                return
        elif commit is not None:
            # Nothing was prepared: the commit will be refused. Its answer is not waited for
            # (a stalled node would hold the delivery); closed, the connection is not reused.
            commit.close()
        # A node that stalled gets the block last, not first: each try of it costs a timeout.
        await self._push(data, slot, started_ms, first_node=1 if stalled else 0)

    async def _push(self, data: bytes, slot: int, started_ms: float | None, first_node: int = 0) -> None:
        """Push to the nodes in turn (from ``first_node``, wrapping round) until one takes the
        block: at least once, and for three slots from now even when we are late. Each push is
        bounded by the push timeout. A node missing one of our earlier blocks
        (``unknown_parent``) first gets those from the emission records."""
        deadline = max(self.slot_start(slot), self.clock.now_ms()) + 3 * self.params.slot_ms
        backoff = 0.02
        first = True
        start = first_node % len(self.pushers)
        order = self.pushers[start:] + self.pushers[:start]
        while first or self.clock.now_ms() < deadline:
            first = False
            for client in order:
                try:
                    result = await client.push_block(data)
                except NodeError as exc:
                    if exc.status in (0, 502, 503, 504):
                        self.metrics.push_failures.labels(node=client.base_url).inc()
                        continue
                    if exc.code == "unknown_parent":
                        await self._push_ancestors(client, data)
                        continue
                    self.metrics.push_failures.labels(node=client.base_url).inc()
                    log.error("node %s refused the block for slot %d: %s", client.base_url, slot, exc)
                    return
                if started_ms is not None:
                    self.metrics.emit_seconds.observe((monotonic_ms() - started_ms) / 1000)
                self.metrics.deliveries.labels(method="push").inc()
                self._accepted(slot, client.base_url)
                log.info(
                    "slot %d: block %s %s by %s",
                    slot,
                    result["block_id"][:16],
                    result["status"],
                    client.base_url,
                )
                return
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 0.2)
        log.error("slot %d: no node took the block before the deadline", slot)

    def _accepted(self, slot: int, node_url: str) -> None:
        """Note which node took the slot's block: recorded with the slot's outcome when it
        closes (off its deliveries), or now when it is closed already."""
        self.faults.hit("deliver.after_accept", slot)
        run = self.run
        if run is not None and run.slot == slot and not run.closed:
            run.accepted_by = node_url
            return
        # Unrecorded, a restart pushes the block again: the node says it has it already.
        with contextlib.suppress(StorageUnavailable), self.storage.writing():
            crud.mark_accepted(self.engine, slot=slot, node_url=node_url)

    async def _push_ancestors(self, client: AsyncNodeClient, data: bytes, depth: int = 12) -> None:
        """Push the recorded emissions the node lacks below ``data``'s block, oldest first."""
        missing: list[bytes] = []
        prev_id = orjson.loads(data)["header"]["prev_id"]
        while len(missing) < depth:
            recorded = crud.get_emission_by_block(self.engine, block_id=prev_id)
            if recorded is None:
                break
            missing.append(bytes(recorded["data"]))
            prev_id = orjson.loads(recorded["data"])["header"]["prev_id"]
        for block in reversed(missing):
            with contextlib.suppress(NodeError):
                await client.push_block(block)

    async def _fallback(self, run: SlotRun) -> None:
        if self.fallback == "none":
            run.reason = "no valid candidate; fallback none: the slot is missed"
            return
        async with self.follower.lock:
            if run.emitted is not None:
                return
            state = self.follower.state
            txs = (
                self.follower.mempool.select(state, self.params.max_block_transactions)
                if self.fallback == "local"
                else []
            )
            try:
                built = build_block(
                    state,
                    slot=run.slot,
                    producer=self.pool,
                    transactions=txs,
                    sig_cache=self.follower.sig_cache,
                    keep=True,
                )
            except ChainError as exc:
                log.error("slot %d: fallback build failed: %s", run.slot, exc)
                return
            self._emit(
                run,
                built.block,
                built.undo or [],
                source=f"fallback_{self.fallback}",
                winner=None,
                reason=f"no valid candidate by the cutoff; fallback {self.fallback}",
            )

    def _close(self, run: SlotRun) -> None:
        run.closed = True
        outcome = "emitted" if run.source == "member" else ("fallback" if run.emitted else "missed")
        valid = sum(1 for c in run.candidates if c.verdict in VALID_VERDICTS)
        # Counted whether or not the storage takes the outcome: a missed slot must show.
        self.metrics.slot_outcomes.labels(outcome=outcome).inc()
        with contextlib.suppress(StorageUnavailable), self.storage.writing():
            crud.close_slot(
                self.engine,
                outcome=EventRecord(
                    kind="slot",
                    ts_ms=self.clock.now_ms(),
                    slot=run.slot,
                    member=run.winner,
                    block_id=run.emitted.id if run.emitted else None,
                    verdict=outcome,
                    reason=run.reason,
                    data={"arrivals": len(run.candidates), "valid": valid, "source": run.source},
                ),
                accepted_by=run.accepted_by,
            )
        log.debug("slot %d closed: %s (%d arrivals, %d valid)", run.slot, outcome, len(run.candidates), valid)
        self.last_closed_slot = max(self.last_closed_slot, run.slot)
        if self.run is run:
            self.run = None
        self.feed.publish(
            "slot_closed",
            {
                "slot": run.slot,
                "outcome": outcome,
                "winner": run.winner,
                "block_id": run.emitted.id if run.emitted else None,
            },
        )

    # --- intake ----------------------------------------------------------------------------

    async def submit_candidate(self, member: str, body: bytes) -> dict[str, Any]:
        """Take one delivery from an authenticated member; returns the verdict or raises an
        :class:`ApiError` (4xx) naming the rejection. Logged either way."""
        arrival_ms = self.clock.now_ms()
        started = monotonic_ms()
        self._seq += 1
        seq = self._seq
        try:
            block = self.decoder.decode(body)
        except (MalformedInput, ChainError) as exc:
            await self._log_rejection(member, None, None, arrival_ms, None, "malformed", exc.message)
            raise ApiError(400, "malformed", exc.message) from None
        header = block.header
        offset = arrival_ms - self.slot_start(header.slot)
        run = self.run
        verdict, reason = self._precheck(member, block, run, arrival_ms)
        if verdict is not None:
            if verdict == "equivocation" and run is not None:
                first = run.by_member[member]
                with self.storage.writing():
                    crud.record_evidence(
                        self.engine,
                        items=[
                            {
                                "slot": header.slot,
                                "member": member,
                                "block_id": b.id,
                                "ts_ms": arrival_ms,
                                "data": canonical_bytes_trusted(b.to_dict()),
                            }
                            for b in (first.block, block)
                        ],
                    )
            await self._log_rejection(member, header.slot, block, arrival_ms, offset, verdict, reason)
            raise ApiError(REJECTION_STATUS[verdict], verdict, reason, slot=header.slot)
        if run is None:  # unreachable: _precheck answers wrong_slot without an open run
            raise ApiError(409, "wrong_slot", "no pool slot is open")
        candidate = Candidate(seq, member, block, arrival_ms, offset, block.total_fees)
        run.candidates.append(candidate)
        run.by_member[member] = candidate
        key = self._content_key(block)
        if run.emitted is None and key not in run.prepares:
            run.prepares[key] = self._start_prepare(body)
        try:
            async with self.follower.lock:
                selected, to_log = self._validate_and_decide(run, candidate, started)
            with self.storage.writing():
                await self.writer.append(to_log)
        except StorageUnavailable:
            # Not logged, so not acknowledged: as if it never arrived (it may come again).
            run.candidates.remove(candidate)
            if run.by_member.get(member) is candidate:
                del run.by_member[member]
            raise
        self.metrics.validation_seconds.observe((monotonic_ms() - started) / 1000)
        self._count(member, candidate.verdict or "valid", offset)
        if run.emitted is None:  # once emitted, the slot's loop has nothing left to decide
            run.changed.set()
        if candidate.verdict not in ("selected", "valid", "valid_unchecked"):
            status = 409 if candidate.verdict == "wrong_parent" else 400
            raise ApiError(status, candidate.verdict or "invalid_block", candidate.reason, slot=header.slot)
        return {
            "slot": header.slot,
            "block_id": block.id,
            "verdict": candidate.verdict,
            "selected": selected,
            "offset_ms": offset,
        }

    def _precheck(
        self, member: str, block: Block, run: SlotRun | None, arrival_ms: int
    ) -> tuple[str | None, str]:
        """The cheap checks, in order; ``(None, "")`` when the candidate may be validated."""
        header = block.header
        # Verify it is a block for the pool
        if header.producer != self.pool:
            return (
                "wrong_producer",
                f"the producer must be the pool account {self.pool}, not {header.producer}",
            )
        # Verify the member built it
        if header.builder != member:
            return "builder_mismatch", f"the builder {header.builder} is not the requesting member {member}"
        # Verify it is for the open slot
        if run is None or header.slot != run.slot:
            if header.slot <= max(self.last_closed_slot, self.follower.state.slot):
                return "late", f"slot {header.slot} is closed"
            open_slot = f"the open slot is {run.slot}" if run else "no pool slot is open"
            return "wrong_slot", f"slot {header.slot} is not open; {open_slot}"
        # Verify it arrived before the cutoff
        if arrival_ms > run.cutoff_at_ms or run.closed:
            return (
                "late",
                f"arrived {arrival_ms - run.start_ms} ms into slot {run.slot}, "
                f"after the {self.settings.cutoff_ms} ms cutoff",
            )
        # Verify it is the member's only candidate for the slot
        first = run.by_member.get(member)
        if first is not None:
            if first.block_id == block.id:
                return "duplicate", f"block {block.id[:16]}… was already delivered for slot {run.slot}"
            return "equivocation", (
                f"{member} already delivered {first.block_id[:16]}… for slot {run.slot}; "
                "both are kept as evidence"
            )
        # Verify it builds on the slot's parent
        if header.prev_id != run.prev_id:
            return "wrong_parent", f"prev_id {header.prev_id[:16]}… is not the head {run.prev_id[:16]}…"
        return None, ""

    @staticmethod
    def _content_key(block: Block) -> tuple[Any, ...]:
        """The header minus the builder, and the exact transactions (by their list's digest)."""
        return (*content_key(block.header), block.transactions_digest)

    def _validate_and_decide(
        self, run: SlotRun, candidate: Candidate, started: float
    ) -> tuple[bool, list[EventRecord]]:
        """Validate on the replica (under its lock) and emit when the strategy says so.

        Returns whether this candidate was emitted, and the arrival events still to log (an
        emission logs its arrival itself, in the same transaction as the emission record).
        """
        state = self.follower.state
        block = candidate.block
        arrival = EventRecord(
            kind="arrival",
            ts_ms=candidate.arrival_ms,
            slot=run.slot,
            member=candidate.member,
            block_id=block.id,
            offset_ms=candidate.offset_ms,
            fees=candidate.fees,
            tx_count=len(block.transactions),
        )
        key = self._content_key(block)
        cached = run.verdicts.get(key)
        if cached is not None:
            # Same content as a candidate judged already: only the builder differs.
            try:
                verify_block_signatures(state, block, producer_signature=False)
                verdict, reason = cached
            except ChainError as exc:
                verdict, reason = verdict_for(exc), exc.message
            candidate.valid = verdict == "valid" and run.emitted is None
            candidate.verdict, candidate.reason = verdict, reason
            if verdict == "valid" and run.emitted is None:
                return self._decide_on_valid(run, candidate, arrival, None, started)
            if verdict == "valid":
                reason = f"valid, but slot {run.slot} was already emitted"
            return False, [_with(arrival, verdict, reason)]
        if run.emitted is not None:
            verdict, reason = self._judge_after_emission(run, block)
            if verdict != "bad_builder_signature":  # that one is the builder's, not the content's
                run.verdicts[key] = (verdict, reason)
            candidate.valid = verdict == "valid"
            candidate.verdict, candidate.reason = verdict, reason
            return False, [_with(arrival, verdict, reason)]
        try:
            undo = self._apply(state, block)
        except ChainError as exc:
            candidate.valid = False
            candidate.verdict, candidate.reason = verdict_for(exc), exc.message
            if not isinstance(exc, BadBuilderSignature):
                run.verdicts[key] = (candidate.verdict, exc.message)
            return False, [_with(arrival, candidate.verdict, exc.message)]
        run.verdicts[key] = ("valid", "")
        candidate.valid = True
        return self._decide_on_valid(run, candidate, arrival, undo, started)

    def _decide_on_valid(
        self, run: SlotRun, candidate: Candidate, arrival: EventRecord, undo: list[Any] | None, started: float
    ) -> tuple[bool, list[EventRecord]]:
        """A valid candidate and nothing emitted yet: ask the strategy."""
        state = self.follower.state
        block = candidate.block
        try:
            arrivals, view = self._view(run)
            decision = STRATEGIES[self.strategy_name](arrivals, view)
        except BaseException:
            if undo is not None:
                state.undo(undo)
            raise
        if decision.action == "emit" and decision.block_id == block.id:
            if undo is None:  # judged from the cache: apply it for real now
                undo = self._apply(state, block)
            candidate.verdict = "selected"
            emitted = self._emit(
                run,
                block,
                undo,
                source="member",
                winner=candidate.member,
                reason=decision.reason,
                arrival=_with(arrival, "selected", decision.reason),
                started_ms=started,
            )
            if emitted:
                return True, []
            candidate.verdict = "valid"
            return False, [_with(arrival, "valid", "slot already emitted")]
        if undo is not None:
            state.undo(undo)
        candidate.verdict = "valid"
        return False, [_with(arrival, "valid", decision.reason)]

    def _judge_after_emission(self, run: SlotRun, block: Block) -> tuple[str, str]:
        """Validate a candidate for a slot already filled, against the slot's parent state."""
        state = self.follower.state
        emitted = run.emitted
        # Our own reference to the undo log: fork choice drops it once the block is final,
        # which on a one-producer chain is at once. Stepping back and forth is local.
        undo = run.emitted_undo
        if emitted is None or not undo or state.head_id != emitted.id:
            return "valid_unchecked", "the slot's block is no longer the head; not re-validated"
        forward = state.snapshot(undo)
        state.undo(undo)
        try:
            trial = self._apply(state, block)
            state.undo(trial)
            return "valid", f"valid, but slot {run.slot} was already emitted"
        except ChainError as exc:
            return verdict_for(exc), exc.message
        finally:
            state.restore(forward)

    async def _log_rejection(
        self,
        member: str,
        slot: int | None,
        block: Block | None,
        arrival_ms: int,
        offset: int | None,
        verdict: str,
        reason: str,
    ) -> None:
        with self.storage.writing():
            await self.writer.append(
                [
                    EventRecord(
                        kind="arrival",
                        ts_ms=arrival_ms,
                        slot=slot,
                        member=member,
                        block_id=block.id if block else None,
                        offset_ms=offset,
                        verdict=verdict,
                        reason=reason,
                        fees=block.total_fees if block else None,
                        tx_count=len(block.transactions) if block else None,
                    )
                ]
            )
        self._count(member, verdict, offset)

    def _count(self, member: str, verdict: str, offset: int | None) -> None:
        log.debug("candidate from %s: %s (offset %s ms)", member, verdict, offset)
        self.metrics.candidates.labels(member=member, result=verdict).inc()
        if offset is not None and offset >= 0:
            self.metrics.arrival_offset.observe(offset / 1000)

    # --- authentication --------------------------------------------------------------------

    def authenticate_request(
        self, headers: Mapping[str, str], *, method: str, path: str, body: bytes, require_active: bool = True
    ) -> dict[str, Any]:
        """The member row behind a signed request (the ``X-BP-*`` headers; lower-case names or
        any case-insensitive mapping), or a 4xx saying what is wrong; a refusal is counted by
        reason. The pool account signs admin requests."""
        try:
            signed = self.verifier.read(headers)
            member = signed.member
            # Verify the requester is known (the pool account signs admin requests)
            if member == self.pool:
                row: dict[str, Any] = {
                    "account": self.pool,
                    "public_key": self.pool_key.public_key,
                    "status": "pool",
                }
            else:
                found = self.members.get(member)
                if found is None:
                    raise ApiError(
                        401, "unknown_member", f"{member} is not a member of pool {self.pool}; apply first"
                    )
                row = found
            self.verifier.verify(
                signed,
                row["public_key"],
                pool=self.pool,
                method=method,
                path=path,
                body=body,
                body_sha256=self.decoder.body_sha256(body),
            )
            # Verify the member may act
            if require_active and row["status"] not in (crud.ACTIVE, "pool"):
                raise ApiError(403, "member_not_active", f"member {member} is {row['status']}, not active")
        except ApiError as exc:
            self.metrics.requests_rejected.labels(reason=exc.code).inc()
            raise
        return row

    # --- membership ------------------------------------------------------------------------

    def apply(self, data: Any) -> dict[str, Any]:
        """Record a signed application (status ``applied`` until admitted)."""
        try:
            application = Application.from_dict(data)
        except MalformedInput as exc:
            raise ApiError(400, "malformed", exc.message) from None
        # Verify it is for this pool on this chain
        if application.chain_id != self.chain_id or application.pool != self.pool:
            raise ApiError(400, "wrong_pool", f"the application is not for pool {self.pool} on this chain")
        # Verify it is fresh
        now = self.clock.now_ms()
        if abs(now - application.timestamp) > self.settings.request_skew_s * 1000:
            raise ApiError(400, "stale_application", "the application timestamp is too far from now")
        # Verify its signature
        if not application.verify():
            raise ApiError(
                400, "bad_application_signature", "the application is not signed by its public_key"
            )
        # Verify the key is the account's key on chain (candidates are signed with it)
        account = self.follower.state.accounts.get(application.account)
        if account is None:
            raise ApiError(
                400, "unknown_account", f"account {application.account} does not exist on the chain"
            )
        if account.key != application.public_key:
            raise ApiError(400, "key_mismatch", f"public_key is not {application.account}'s key on the chain")
        # Verify it accepts the latest constitution
        if application.constitution_hash != self.constitution_hash:
            raise ApiError(
                400,
                "stale_constitution",
                f"sign the latest constitution (hash {self.constitution_hash}); GET /v1/pool/constitution",
            )
        existing = self.members.get(application.account)
        status = "applied" if existing is None or existing["status"] == "removed" else existing["status"]
        with self.storage.writing():
            row = crud.save_application(
                self.engine,
                row={
                    "account": application.account,
                    "public_key": application.public_key,
                    "endpoint": application.endpoint,
                    "status": status,
                    "constitution_hash": application.constitution_hash,
                    "application_signature": application.signature,
                    "applied_ms": now,
                    "updated_ms": now,
                },
                event=EventRecord(
                    kind="member",
                    ts_ms=now,
                    member=application.account,
                    verdict="applied",
                    data={
                        "endpoint": application.endpoint,
                        "constitution_hash": application.constitution_hash,
                    },
                ),
            )
        if existing is not None and existing["status"] == "removed":
            with self.storage.writing():
                crud.set_member_status(
                    self.engine,
                    account=application.account,
                    status="applied",
                    now_ms=now,
                    event=EventRecord(
                        kind="member", ts_ms=now, member=application.account, verdict="reapplied"
                    ),
                )
            row["status"] = "applied"
        self.reload_members()
        for hook in self.application_hooks:
            hook(application.account)
        return {"account": row["account"], "status": self.members[row["account"]]["status"]}

    def set_status(self, account: str, action: str, *, by: str = "admin") -> dict[str, Any]:
        """Admit, suspend, reinstate or remove a member."""
        targets = {"admit": "active", "reinstate": "active", "suspend": "suspended", "remove": "removed"}
        if action not in targets:
            raise ApiError(400, "unknown_action", f"action must be one of {', '.join(targets)}")
        member = self.members.get(account)
        if member is None:
            raise ApiError(404, "unknown_member", f"{account} has not applied to pool {self.pool}")
        if action == "admit" and self.admission_by_vote and by not in ("dac", "bootstrap"):
            raise ApiError(
                403, "admission_by_vote", "admission is decided by a DAC vote: propose admit_member"
            )
        if action in ("admit", "reinstate") and member["constitution_hash"] != self.constitution_hash:
            raise ApiError(
                409, "stale_constitution", f"{account} must sign the latest constitution before admission"
            )
        if action == "admit" and member["status"] not in ("applied", "suspended"):
            raise ApiError(
                409, "invalid_transition", f"{account} is {member['status']}; only applicants are admitted"
            )
        now = self.clock.now_ms()
        with self.storage.writing():
            row = crud.set_member_status(
                self.engine,
                account=account,
                status=targets[action],
                now_ms=now,
                event=EventRecord(
                    kind="member",
                    ts_ms=now,
                    member=account,
                    verdict=targets[action],
                    reason=f"{action} by {by}",
                ),
            )
        self.reload_members()
        return {"account": account, "status": row["status"] if row else targets[action]}

    def set_constitution(self, text: str) -> str:
        """Adopt a new constitution text (an amendment); returns its hash."""
        self.constitution_text = text
        self.constitution_hash = hashlib.sha256(text.encode()).hexdigest()
        return self.constitution_hash

    def set_member_constitution(self, account: str, constitution_hash: str) -> None:
        """Record that a member signed a constitution version."""
        with self.storage.writing():
            crud.set_member_constitution(
                self.engine, account=account, constitution_hash=constitution_hash, now_ms=self.clock.now_ms()
            )
        self.reload_members()

    def set_parameter(self, name: str, value: str) -> None:
        """Change a governed parameter (strategy or fallback) for the next decisions."""
        if name == "strategy" and value in STRATEGIES:
            self.strategy_name = value
        elif name == "fallback" and value in FALLBACKS:
            self.fallback = value
        else:
            raise ApiError(400, "invalid_parameter", f"{name}={value!r} is not a valid emitter parameter")
        now = self.clock.now_ms()
        with self.storage.writing():
            crud.append_events(
                self.engine, events=[EventRecord(kind="parameter", ts_ms=now, verdict=name, reason=value)]
            )


def _with(event: EventRecord, verdict: str, reason: str) -> EventRecord:
    return EventRecord(
        kind=event.kind,
        ts_ms=event.ts_ms,
        slot=event.slot,
        member=event.member,
        block_id=event.block_id,
        offset_ms=event.offset_ms,
        verdict=verdict,
        reason=reason,
        fees=event.fees,
        tx_count=event.tx_count,
    )
