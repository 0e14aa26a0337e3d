"""The slot runner: opens each pool slot, waits, decides, falls back and closes it.

Life of a pool slot:

1. **Open** at the slot's start: the replica's head is the parent; ``slot_open`` goes to every
   member on the slot feed. If the head moves before anything is emitted (a late block for the
   previous slot), the slot re-opens on the new parent.
2. **Intake** (:mod:`emitter.intake`): each delivery is checked, validated, and the runner asked
   to decide on it (:meth:`SlotRunner.decide_on_arrival`).
3. **Decide**: the strategy is asked in one place (:meth:`SlotRunner.ask`), after each valid
   arrival and whenever the slot's wait ends; what it picks is emitted (:mod:`emitter.emission`).
4. **Cutoff**: with nothing emitted by ``cutoff_ms``, the strategy gets a last word, then the
   fallback runs (``local``: build from the mempool; ``empty``; ``none``: the slot is missed),
   on the lease holder only (in a group, the other instances leave it to the leader).
5. **Close** at the cutoff (deliveries after an emission are still judged until then, against
   the parent state): the outcome is logged once for the group, by the instance holding the
   slot's claim (by the lease holder when nobody claimed it).

In a group every instance runs every pool slot: the one whose claim wins emits; the others
see the slot settled (their claim refused, or the winner's block arriving from the node) and
only judge what still arrives.
"""

from __future__ import annotations

import asyncio
import logging

from chain.core import Block, ChainError, OnBlockResult, build_block
from chain.core.schedule import get_next_slots_of, get_scheduled_producer
from chain.core.state import UndoLog
from emitter import crud
from emitter.claims import Claims
from emitter.closing import SlotClosing
from emitter.config import EmitterSettings
from emitter.context import Context
from emitter.core import STRATEGIES, Arrival, Decision, SlotView
from emitter.crud import EventRecord
from emitter.delivery import Delivery
from emitter.emission import Emission
from emitter.expected import ExpectedBlocks
from emitter.group import Group
from emitter.membership import Membership, Policy
from emitter.slotrun import Candidate, SlotRun, with_verdict
from emitter.storage import StorageUnavailable
from service_shell.events import Broadcaster

log = logging.getLogger("bppool.emitter")

QUIET_MARGIN_MS = 10  # garbage collection ends this long before a pool slot needs the process
QUIET_FAR_MS = 1000.0  # "quiet" when no pool slot is in sight


class SlotRunner:
    """Runs the pool's slots, one at a time (:attr:`run` is the open one)."""

    def __init__(
        self,
        ctx: Context,
        *,
        settings: EmitterSettings,
        max_transactions: int,
        feed: Broadcaster,
        policy: Policy,
        membership: Membership,
        expected: ExpectedBlocks,
        emission: Emission,
        delivery: Delivery,
        claims: Claims,
        group: Group,
    ) -> None:
        self.settings = settings
        self.claims = claims
        self.group = group
        self.closing = SlotClosing(ctx, claims=claims, group=group)
        self.timing = ctx.timing
        self.clock = ctx.timing.clock
        self.pool = ctx.pool
        self.max_transactions = max_transactions
        self.follower = ctx.follower
        self.engine = ctx.engine
        self.storage = ctx.storage
        self.feed = feed
        self.policy = policy
        self.membership = membership  # its members are read at each decision (reloads replace them)
        self.expected = expected
        self.emission = emission
        self.delivery = delivery
        self.metrics = ctx.metrics
        self.spawn = ctx.spawn
        self.run: SlotRun | None = None
        self.last_closed_slot = 0
        self.ready = False  # slots are being run (after the replica synced and redelivery)

    # --- the schedule ----------------------------------------------------------------------

    def next_pool_slots(self, count: int = 12) -> list[int]:
        """The pool's next slots by the replica's schedule (the current one if still open)."""
        state = self.follower.state
        first = max(self.timing.current_slot(), state.slot + 1)
        slots = []
        if (
            get_scheduled_producer(state, first) == self.pool
            and self.clock.now_ms() < self.timing.slot_start(first) + self.settings.cutoff_ms
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
        busy_at = self.timing.slot_start(slot)
        expected = self.expected.expected
        if self.settings.expect_lead_ms and (expected is None or expected.slot != slot or self.expected.body):
            busy_at -= self.settings.expect_lead_ms
        return float(max(0, busy_at - now - QUIET_MARGIN_MS))

    # --- the loop --------------------------------------------------------------------------

    async def loop(self) -> None:
        """Run every pool slot as it comes (after redelivering what a restart left)."""
        await self.follower.synced.wait()
        await self.raise_watermark_from_chain()
        await self.delivery.redeliver()
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
                await self.clock.sleep_until_ms(self.timing.slot_start(self.timing.current_slot() + 1))
                continue
            slot = upcoming[0]
            await self.clock.sleep_until_ms(self.timing.slot_start(slot))
            if get_scheduled_producer(self.follower.state, slot) != self.pool:
                continue
            await self.run_slot(slot)

    async def raise_watermark_from_chain(self) -> None:
        """Learn the newest pool block the nodes hold (canonical or not) before any slot runs,
        and raise the signing watermark to it: a database restored from an old backup then
        cannot let the pool key sign a slot it signed already. The nodes are asked until one
        answers; a database that refuses the write now gets it before the first claim."""
        delay = 0.2
        while True:
            newest = await self.delivery.newest_pool_slot()
            if newest is not None:
                break
            log.warning("no node answered with the pool's newest block; retrying in %.1f s", delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)
        self.claims.chain_slot = max(newest, 0)
        try:
            with self.storage.writing():
                await asyncio.to_thread(self.claims.prepare)
        except StorageUnavailable as exc:
            log.warning("signing watermark not set yet (before the first claim, then): %s", exc.message)

    def _log_feed_open(self) -> None:
        """Log that the slot feed is open from the slot now in progress: members reconnect
        from here, and the pool slots right after it do not count against them (docs/dac.md)."""
        event = EventRecord(
            kind=crud.SERVICE_EVENT,
            ts_ms=self.clock.now_ms(),
            slot=self.timing.current_slot(),
            verdict=crud.FEED_OPEN,
            reason="the pool service started running slots",
        )
        crud.append_events(self.engine, events=[event])

    async def run_slot(self, slot: int) -> None:
        """Open, collect, decide, fall back if needed, and close one pool slot."""
        run = self._open(slot)
        if run is None:
            return
        grace_at = run.start_ms + self.settings.grace_ms
        try:
            # The slot stays open until the cutoff even once emitted: later deliveries are still
            # judged (against the parent state) and count as valid deliveries for the rewards.
            while self.clock.now_ms() < run.cutoff_at_ms:
                deadline = run.cutoff_at_ms
                if self.policy.strategy == "fair_rotation" and self.clock.now_ms() < grace_at:
                    deadline = grace_at
                await self.wait(run, deadline)
                if not run.decided:
                    await self._decide_or_note(run)
            if not run.decided:
                await self._decide_or_note(run)
            if not run.decided:
                await self.fallback(run)
        except StorageUnavailable as exc:
            run.reason = exc.message
        except asyncio.CancelledError:
            raise  # shutting down: the slot is left open (a restart inside it picks it up)
        except Exception:
            # A slot that failed is closed all the same: it counts (as missed).
            self.close(run)
            raise
        self.close(run)

    def _open(self, slot: int) -> SlotRun | None:
        """Open ``slot`` on the replica's head, or ``None`` when it must not run (it has its
        block already, or whether it has cannot be known)."""
        try:
            with self.storage.writing():
                existing = crud.get_emission(self.engine, slot=slot)
        except StorageUnavailable:
            # Whether the slot has its block cannot be known: nothing is emitted for it.
            self.metrics.slot_outcomes.labels(outcome="missed").inc()
            self.last_closed_slot = slot
            return None
        if existing is not None:
            # A restart inside a window: this slot has its block; never emit another.
            log.info("slot %d already emitted %s; pushing it again", slot, existing["block_id"][:16])
            self.last_closed_slot = slot
            self.spawn(self.delivery.push(bytes(existing["data"]), slot, None))
            return None
        state = self.follower.state
        start = self.timing.slot_start(slot)
        run = SlotRun(
            slot=slot,
            start_ms=start,
            cutoff_at_ms=start + self.settings.cutoff_ms,
            prev_id=state.head_id,
            height=state.height + 1,
            opened_ms=self.clock.now_ms(),
        )
        self.run = run
        self.metrics.pool_slot.set(slot)
        self.spawn(self.delivery.raw_pool.fill())  # warm connections for this slot's prepares
        self.publish_open(run, reopen=False)
        return run

    async def wait(self, run: SlotRun, until_ms: int) -> None:
        """Until ``until_ms`` on the clock or a change to the run, whichever comes first."""
        run.changed.clear()
        timer = asyncio.ensure_future(self.clock.sleep_until_ms(until_ms))
        changed = asyncio.ensure_future(run.changed.wait())
        try:
            await asyncio.wait({timer, changed}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (timer, changed):
                task.cancel()

    def publish_open(self, run: SlotRun, *, reopen: bool) -> None:
        """Tell the members on the slot feed that ``run`` opened (again, on a new parent)."""
        self.feed.publish(
            "slot_open",
            {
                "slot": run.slot,
                "height": run.height,
                "prev_id": run.prev_id,
                "slot_start_ms": run.start_ms,
                "deadline_ms": run.cutoff_at_ms,
                "pool": self.pool,
                "strategy": self.policy.strategy,
                "reopen": reopen,
                # Build from the mempool's transactions numbered up to this (the node's
                # numbering): the block validated ahead, so a matching candidate is judged by
                # its signatures alone. Absent when nothing was validated ahead.
                "tx_seq": self.expected.expected_seq(run),
            },
        )

    def on_head_change(self, result: OnBlockResult) -> None:
        """The replica's head moved: the open slot is filled when the head is a block for it
        (another instance of the group emitted it), else it re-opens on the new parent."""
        run = self.run
        state = self.follower.state
        self.metrics.head_height.set(state.height)
        if run is None or run.closed or run.decided or state.head_id == run.prev_id:
            return
        if state.slot >= run.slot:
            self._filled_elsewhere(run, result.applied[-1] if result.applied else None)
            return
        run.prev_id = state.head_id
        run.height = state.height + 1
        for candidate in run.candidates:
            if candidate.valid:
                candidate.valid = False  # built on the old parent: no longer emittable
        log.info("slot %d re-opened on new head %d", run.slot, state.height)
        self.publish_open(run, reopen=True)

    def _filled_elsewhere(self, run: SlotRun, head: Block | None) -> None:
        """The head (``head``, just applied) is a block for ``run``'s slot (or later) that this
        instance did not emit: the slot is settled; what still arrives is judged against the
        head's parent."""
        store = self.follower.store
        run.settled = True
        if (
            head is not None
            and head.id == store.head_id
            and head.slot == run.slot
            and head.header.producer == self.pool
        ):
            run.emitted = head
            run.emitted_undo = store.head_undo() or []
            run.reason = run.reason or "emitted by another instance of the group"
        else:
            run.reason = run.reason or f"the chain moved past slot {run.slot}"
        run.changed.set()

    # --- decisions -------------------------------------------------------------------------

    def ask(self, run: SlotRun) -> Decision:
        """The strategy's decision on ``run`` now: the one place a decision starts."""
        arrivals = [
            Arrival(c.seq, c.member, c.block_id, c.offset_ms, c.valid, c.fees) for c in run.candidates
        ]
        members = self.membership.members
        view = SlotView(
            slot=run.slot,
            now_offset_ms=self.clock.now_ms() - run.start_ms,
            cutoff_ms=self.settings.cutoff_ms,
            grace_ms=self.settings.grace_ms,
            members=tuple(sorted(a for a, m in members.items() if m["status"] == crud.ACTIVE)),
        )
        return STRATEGIES[self.policy.strategy](arrivals, view)

    async def _decide_or_note(self, run: SlotRun) -> None:
        """:meth:`decide`; an emission the storage refused leaves the slot to the fallback."""
        try:
            await self.decide(run)
        except StorageUnavailable as exc:
            run.reason = exc.message

    async def decide(self, run: SlotRun) -> None:
        """Ask the strategy; emit what it picks (re-validating a deferred candidate)."""
        async with self.follower.lock:
            if run.decided or run.closed:
                return
            decision = self.ask(run)
            if decision.action != "emit":
                return
            candidate = next(c for c in run.candidates if c.block_id == decision.block_id)
            try:
                undo = self.expected.memo.apply(self.follower.state, candidate.block)
            except ChainError as exc:
                candidate.valid = False
                log.warning("deferred candidate %s no longer valid: %s", candidate.block_id[:16], exc)
                return
            await self.emission.emit(
                run, candidate.block, undo, source="member", winner=candidate.member, reason=decision.reason
            )

    async def decide_on_arrival(
        self, run: SlotRun, candidate: Candidate, arrival: EventRecord, undo: UndoLog | None, started: float
    ) -> tuple[bool, list[EventRecord]]:
        """A valid candidate just arrived and nothing is emitted yet: ask the strategy (under
        the replica lock; ``undo`` is the candidate's application, ``None`` when it was judged
        from the memo). Returns whether it was emitted, and its arrival event still to log."""
        state = self.follower.state
        block = candidate.block
        try:
            decision = self.ask(run)
        except BaseException:
            if undo is not None:
                state.undo(undo)
            raise
        if decision.action == "emit" and decision.block_id == block.id:
            if undo is None:  # judged from the memo: apply it for real now
                undo = self.expected.memo.apply(state, block)
            candidate.verdict = "selected"
            emitted = await self.emission.emit(
                run,
                block,
                undo,
                source="member",
                winner=candidate.member,
                reason=decision.reason,
                arrival=with_verdict(arrival, "selected", decision.reason),
                started_ms=started,
            )
            if emitted:
                return True, []
            candidate.verdict = "valid"
            return False, [with_verdict(arrival, "valid", run.reason or "slot already emitted")]
        if undo is not None:
            state.undo(undo)
        candidate.verdict = "valid"
        return False, [with_verdict(arrival, "valid", decision.reason)]

    async def fallback(self, run: SlotRun) -> None:
        """Nothing emitted by the cutoff: build the pool's own block (or miss the slot). The
        lease holder's job: in a group the other instances leave it to the leader, and the
        leader's claim for it is fenced at its epoch."""
        fallback = self.policy.fallback
        if not self.group.leads():
            run.reason = run.reason or "no valid candidate here; the fallback is the group leader's"
            return
        async with self.follower.lock:
            if run.decided:
                return
            built = None if fallback == "none" else self._build_fallback(run, fallback)
            if built is None:
                await self._declare_missed(run, fallback)
                return
            block, undo = built
            await self.emission.emit(
                run,
                block,
                undo,
                source=f"fallback_{fallback}",
                winner=None,
                reason=f"no valid candidate by the cutoff; fallback {fallback}",
            )

    async def _declare_missed(self, run: SlotRun, fallback: str) -> None:
        """Claim the slot as missed (nothing is signed for it, here or anywhere in the group)."""
        result = await self.claims.claim_missed(run.slot, epoch=self.group.epoch)
        run.claim = result.claim
        if result.won:
            run.settled = True
            run.reason = (
                "no valid candidate; fallback none: the slot is missed"
                if fallback == "none"
                else f"no valid candidate and the {fallback} fallback could not be built: the slot is missed"
            )
        else:
            self.emission.settle_elsewhere(run, result)

    def _build_fallback(self, run: SlotRun, fallback: str) -> tuple[Block, UndoLog] | None:
        """The fallback block applied to the replica (``local``: the mempool's selection;
        ``empty``), or ``None`` when it cannot be built."""
        state = self.follower.state
        txs = self.follower.mempool.select(state, self.max_transactions) if fallback == "local" else []
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
            return None
        return built.block, built.undo or []

    # --- close -----------------------------------------------------------------------------

    def close(self, run: SlotRun) -> None:
        """Close ``run``: its outcome counted and logged once for the group
        (:mod:`emitter.closing`) and published on this instance's feed."""
        run.closed = True
        outcome, winner, block_id = self.closing.close(run)
        self.last_closed_slot = max(self.last_closed_slot, run.slot)
        if self.run is run:
            self.run = None
        self.feed.publish(
            "slot_closed",
            {"slot": run.slot, "outcome": outcome, "winner": winner, "block_id": block_id},
        )
