"""Emission: the one path by which a block leaves the pool, for a member's candidate chosen
by the strategy and for the fallback alike.

In order: claim the slot for the block's signing digest (committed: see :mod:`emitter.claims`;
a fallback's claim is fenced by the lease) -> countersign with the pool key -> record
(committed: the slot's emission, with its log entries) -> hand to the node (the commit of a
prepared candidate, or the push) -> adopt into the replica. Nothing is signed without a claim;
a block on chain is always the claimed and recorded one, and a recorded one is pushed again
after a restart. A claim refused because another instance of the group won the slot leaves
the slot to that instance's block. The fault points of :mod:`emitter.faults` sit between
these steps (``*.after_claim``, ``*.after_sign``, ``*.after_record``, ``emit.after_commit_sent``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from chain.core import Block, PrivateKey
from chain.core.containers import encode_block
from emitter import crud, pgevents
from emitter.claims import ClaimResult, Claims
from emitter.context import Context
from emitter.crud import AlreadyEmitted, EventRecord
from emitter.delivery import Delivery
from emitter.expected import content_of
from emitter.group import Group
from emitter.groupstore import CLAIMED
from emitter.slotrun import SlotRun
from emitter.storage import StorageUnavailable
from service_shell.pgasync import AsyncWriter

log = logging.getLogger("bppool.emitter")


class Emission:
    """Signs, records and delivers the pool's block for a slot."""

    def __init__(
        self,
        ctx: Context,
        *,
        pool_key: PrivateKey,
        delivery: Delivery,
        claims: Claims,
        group: Group,
        cutoff_ms: int,
        strategy: Callable[[], str],
        writer: AsyncWriter | None = None,
    ) -> None:
        self.pool_key = pool_key
        self.writer = writer  # PostgreSQL: the record awaited on the claims' connection
        self.claims = claims
        self.group = group
        self.cutoff_ms = cutoff_ms
        self.timing = ctx.timing
        self.clock = ctx.timing.clock
        self.follower = ctx.follower
        self.engine = ctx.engine
        self.storage = ctx.storage
        self.delivery = delivery
        self.faults = ctx.faults
        self.metrics = ctx.metrics
        self.spawn = ctx.spawn
        self.strategy = strategy  # the strategy in force, named in the emission's log entry

    async def emit(
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
        """Claim, countersign, record (unique slot), adopt into the replica and push. Called
        under the replica lock with ``candidate`` applied to the replica state; when nothing
        is emitted (the claim was refused: another instance of the group has the slot, or the
        storage refused) the replica is put back as it was.

        The claim is committed before the pool key signs, and the record before any byte of
        the signed block leaves the process (the node's prepare of the unsigned candidate may
        have gone earlier): a block on chain is always the claimed and recorded one.

        On PostgreSQL the claim and the record are awaited and other tasks run meanwhile, some
        reading the replica without its lock (the follower, the DAC, the API): the replica then
        stands at the slot's parent meanwhile and steps forth to the candidate once both are
        made. On SQLite both are made on this thread, with nothing else running in between,
        and the candidate stays applied (stepping back and forth costs about a millisecond)."""
        kind = "emit" if source == "member" else "fallback"
        state = self.follower.state
        forward = None
        if self.writer is not None:
            forward = state.snapshot(undo)
            state.undo(undo)
        run.emitting = True
        try:
            claimed = await self.claim(run, candidate, source)
            if not claimed.won:
                self._step_back(undo, forward)
                self.settle_elsewhere(run, claimed)
                return False
            self.faults.hit(f"{kind}.after_claim", run.slot)
            if self.claims.slot_over(run.slot):
                # Claimed, then held up (paused) past the slot's end: its block would come late
                # to a chain that moved on. The claim stays; nothing is signed for the slot.
                log.warning("slot %d: claimed, but the slot ended before signing; not signing", run.slot)
                self._step_back(undo, forward)
                run.settled = True
                run.reason = "claimed, but the slot ended before it was signed"
                return False
            signed = candidate.signed_by_producer(self.pool_key)
            self.faults.hit(f"{kind}.after_sign", run.slot)
            data = encode_block(signed)
            await self._record(
                run, signed, data, source=source, winner=winner, reason=reason, arrival=arrival
            )
        except AlreadyEmitted:
            # Claimed here, yet the slot has an emission on record: never sign a second block.
            log.error("slot %d: claimed, but an emission is on record already; not emitting", run.slot)
            self._step_back(undo, forward)
            run.settled = True
            return False
        except BaseException:
            # Whatever failed (the storage above all), the replica keeps no block that was not
            # emitted: it would refuse the node's next blocks as not following it.
            self._step_back(undo, forward)
            raise
        finally:
            run.emitting = False
        if forward is not None:
            state.restore(forward)  # the block is claimed and on record: the replica steps forth
        self.faults.hit(f"{kind}.after_record", run.slot)
        # The block is on record: hand it to the node before any bookkeeping of ours.
        delivery = self.delivery
        prepare = run.prepares.get(content_of(candidate)) if source == "member" else None
        commit = delivery.start_commit(signed) if prepare is not None else None
        if commit is not None:
            self.faults.hit("emit.after_commit_sent", run.slot)
        self.spawn(delivery.deliver(run.slot, signed, data, prepare, commit, started_ms))
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

    def _step_back(self, undo: list[Any], forward: list[Any] | None) -> None:
        """The candidate is not emitted: the replica at the slot's parent (where it already
        stands while the database was awaited)."""
        if forward is None:
            self.follower.state.undo(undo)

    async def _record(
        self,
        run: SlotRun,
        signed: Block,
        data: bytes,
        *,
        source: str,
        winner: str | None,
        reason: str,
        arrival: EventRecord | None,
    ) -> None:
        """Record the emission (and the arrival it fills the slot with) in one transaction;
        raises ``AlreadyEmitted`` when the slot has its block, ``StorageUnavailable`` when
        the storage refuses it."""
        row = self.emission_row(run, signed, data, source)
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
            data={"height": signed.height, "strategy": self.strategy()},
        )
        with self.storage.writing():
            if self.writer is not None:  # PostgreSQL: awaited, the loop goes on meanwhile
                await pgevents.record_arrival_async(
                    self.writer, self.engine.dialect, arrival=arrival, emission=row, extra=[event]
                )
            elif arrival is not None:
                crud.record_arrival(self.engine, arrival=arrival, emission=row, extra=[event])
            else:
                crud.record_emission(self.engine, emission=row, events=[event])

    def emission_row(self, run: SlotRun, block: Block, data: bytes, source: str) -> dict[str, Any]:
        """The emission record of ``block`` (its bytes ``data``) for ``run``'s slot."""
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

    async def claim(self, run: SlotRun, block: Block, source: str) -> ClaimResult:
        """Claim ``run``'s slot for ``block``: a member's candidate by any instance, a
        fallback by the lease holder only (fenced at its epoch)."""
        group = self.group
        fenced = source != "member"
        # A fenced claim holds only at the epoch of the lease we hold; a member's claim
        # notes the group's epoch it was made in.
        epoch = group.epoch or (group.view.epoch if group.view else 0)
        result = await self.claims.claim_block(run.slot, block, source=source, epoch=epoch, fenced=fenced)
        run.claim = result.claim
        return result

    def settle_elsewhere(self, run: SlotRun, result: ClaimResult) -> None:
        """The claim was refused: the slot is decided (by another instance, or it may not be
        signed at all), so nothing more is decided for it here. When another instance won it
        with a block, that block reaches the replica from the node; should the node still
        lack it when the slot ends, it is pushed from that instance's record."""
        run.settled = True
        claim = result.claim
        if result.outcome == CLAIMED and claim is not None:
            run.reason = f"claimed by instance {claim['instance']}" + (
                f" for block {claim['block_id'][:16]}" if claim.get("block_id") else " as missed"
            )
            if claim.get("block_id"):
                self.spawn(self.push_if_missing(run.slot, str(claim["block_id"])))
        else:
            run.reason = f"not signed: the claim was refused ({result.outcome})"
        run.changed.set()

    async def push_if_missing(self, slot: int, block_id: str) -> None:
        """At the slot's cutoff, push the block another instance claimed and recorded for it if
        the followed node still has not announced it (that instance may be gone)."""
        await self.clock.sleep_until_ms(self.timing.slot_start(slot) + self.cutoff_ms)
        if block_id in self.follower.store:
            return
        try:
            with self.storage.writing():
                recorded = crud.get_emission(self.engine, slot=slot)
        except StorageUnavailable:
            return
        if recorded is None or recorded["block_id"] != block_id:
            return  # claimed, never recorded: the slot stays without a block
        log.warning("slot %d: the node lacks block %s of another instance; pushing it", slot, block_id[:16])
        await self.delivery.push(bytes(recorded["data"]), slot, None)
