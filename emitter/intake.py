"""Candidate intake and request authentication.

Each delivery is checked cheapest first (``emitter.core.intake``: producer, builder, slot,
lateness, duplicate, equivocation, parent), then validated on the replica in arrival order
(judged by the memo, ``emitter.expected.ContentMemo``, when its content was judged before),
and the slot runner asked to decide on it. Every arrival is logged (with its verdict) before
the member is answered; a rejection raises a :mod:`emitter.errors` error naming it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from chain.client.decoding import BlockDecoder
from chain.core import Block, ChainError
from chain.core.codec import canonical_bytes_trusted
from chain.core.errors import BadBuilderSignature, MalformedInput
from chain.core.transition import verify_block_signatures
from emitter import crud
from emitter.context import Context
from emitter.core.intake import ACCEPTED_VERDICTS, compute_precheck, is_conflict, verdict_for
from emitter.crud import EventRecord
from emitter.delivery import Delivery
from emitter.errors import (
    CandidateConflict,
    CandidateInvalid,
    EmitterError,
    Malformed,
    MemberNotActive,
    SlotNotOpen,
    UnknownMember,
)
from emitter.expected import ContentMemo, content_of
from emitter.logwriter import EventWriter
from emitter.membership import Membership
from emitter.slotrun import Candidate, SlotRun, with_verdict
from emitter.slots import SlotRunner
from emitter.storage import StorageUnavailable
from service_shell.clock import monotonic_ms
from service_shell.requestauth import RequestRefused, RequestVerifier

log = logging.getLogger("bppool.emitter")


def rejection(verdict: str, reason: str, **extra: Any) -> EmitterError:
    """The error refusing a candidate with ``verdict``."""
    if is_conflict(verdict):
        return CandidateConflict(reason, code=verdict, **extra)
    return CandidateInvalid(reason, code=verdict, **extra)


class Intake:
    """Takes members' candidates for the open slot and authenticates their requests."""

    def __init__(
        self,
        ctx: Context,
        *,
        pool_public_key: str,
        cutoff_ms: int,
        runner: SlotRunner,
        memo: ContentMemo,
        delivery: Delivery,
        decoder: BlockDecoder,
        verifier: RequestVerifier,
        membership: Membership,
        writer: EventWriter,
    ) -> None:
        self.pool = ctx.pool
        self.pool_public_key = pool_public_key
        self.cutoff_ms = cutoff_ms
        self.timing = ctx.timing
        self.clock = ctx.timing.clock
        self.runner = runner
        self.follower = ctx.follower
        self.memo = memo
        self.delivery = delivery
        self.decoder = decoder
        self.verifier = verifier
        self.membership = membership  # its members are read at each request (reloads replace them)
        self.storage = ctx.storage
        self.engine = ctx.engine
        self.writer = writer
        self.metrics = ctx.metrics
        self._seq = 0

    async def submit_candidate(self, member: str, body: bytes) -> dict[str, Any]:
        """Take one delivery from an authenticated member; returns the verdict or raises an
        :class:`~emitter.errors.EmitterError` naming the rejection. Logged either way."""
        arrival_ms = self.clock.now_ms()
        started = monotonic_ms()
        self._seq += 1
        seq = self._seq
        try:
            block = self.decoder.decode(body)
        except (MalformedInput, ChainError) as exc:
            await self._log_rejection(member, None, None, arrival_ms, None, "malformed", exc.message)
            raise Malformed(exc.message) from None
        header = block.header
        offset = arrival_ms - self.timing.slot_start(header.slot)
        run = self.runner.run
        verdict, reason = self._precheck(member, block, run, arrival_ms)
        if verdict is not None:
            await self._log_rejection(member, header.slot, block, arrival_ms, offset, verdict, reason)
            raise rejection(verdict, reason, slot=header.slot)
        if run is None:  # unreachable: the precheck answers wrong_slot without an open run
            raise SlotNotOpen("no pool slot is open")
        candidate = Candidate(seq, member, block, arrival_ms, offset, block.total_fees)
        run.candidates.append(candidate)
        run.by_member[member] = candidate
        key = content_of(block)
        if not run.decided and key not in run.prepares:
            run.prepares[key] = self.delivery.start_prepare(body)
        try:
            cached = self.memo.verdict(run, key)
            if cached is not None and (run.emitting or run.decided):
                # Content judged before, and the slot's block emitted or on its way: the
                # builder's signature is all there is to check. It only reads the replica, so
                # it goes on while an emission awaits its claim and record (and holds the lock).
                selected, to_log = False, [self._judged_aside(run, candidate, cached)]
            else:
                async with self.follower.lock:
                    selected, to_log = await self.validate(run, candidate, key, started)
            with self.storage.writing():
                await self.writer.append(to_log)
        except StorageUnavailable:
            self._forget(run, candidate)
            raise
        self.metrics.validation_seconds.observe((monotonic_ms() - started) / 1000)
        self._count(member, candidate.verdict or "valid", offset)
        if not run.decided:  # once decided, the slot's loop has nothing left to decide
            run.changed.set()
        if candidate.verdict not in ACCEPTED_VERDICTS:
            raise rejection(candidate.verdict or "invalid_block", candidate.reason, slot=header.slot)
        return {
            "slot": header.slot,
            "block_id": block.id,
            "verdict": candidate.verdict,
            "selected": selected,
            "offset_ms": offset,
            # The block the slot got, when known (in a group, maybe another instance's, and
            # maybe this very block, delivered there first): a member sees it won.
            "emitted_block_id": self.emitted_block_id(run),
        }

    @staticmethod
    def emitted_block_id(run: SlotRun) -> str | None:
        """The id of the block ``run``'s slot got (emitted here or claimed elsewhere), if any."""
        if run.emitted is not None:
            return run.emitted.id
        claim = run.claim
        block_id = claim.get("block_id") if claim is not None else None
        return block_id if isinstance(block_id, str) else None

    def _precheck(
        self, member: str, block: Block, run: SlotRun | None, arrival_ms: int
    ) -> tuple[str | None, str]:
        """The cheap checks (``emitter.core.intake``); an equivocation's two blocks are kept
        as evidence."""
        header = block.header
        verdict, reason = compute_precheck(
            member=member,
            header=header,
            block_id=block.id,
            pool=self.pool,
            run=run,
            arrival_ms=arrival_ms,
            closed_through=max(self.runner.last_closed_slot, self.follower.state.slot),
            cutoff_ms=self.cutoff_ms,
        )
        if verdict == "equivocation" and run is not None:
            self._record_evidence(member, header.slot, run.by_member[member].block, block, arrival_ms)
        return verdict, reason

    @staticmethod
    def _forget(run: SlotRun, candidate: Candidate) -> None:
        """Not logged (the storage refused), so not acknowledged: as if it never arrived (it
        may come again)."""
        run.candidates.remove(candidate)
        if run.by_member.get(candidate.member) is candidate:
            del run.by_member[candidate.member]

    async def validate(
        self, run: SlotRun, candidate: Candidate, key: tuple[Any, ...], started: float
    ) -> tuple[bool, list[EventRecord]]:
        """Validate on the replica (under its lock) and emit when the strategy says so.

        Returns whether this candidate was emitted, and the arrival events still to log (an
        emission logs its arrival itself, in the same transaction as the emission record).
        """
        state = self.follower.state
        block = candidate.block
        arrival = self.arrival_event(run, candidate)
        memo = self.memo
        cached = memo.verdict(run, key)
        if cached is not None:
            return await self._judged_before(run, candidate, arrival, cached, started)
        if run.decided:
            verdict, reason = self.judge_after_emission(run, block)
            if verdict != "bad_builder_signature":  # that one is the builder's, not the content's
                memo.note(run, key, verdict, reason)
            candidate.valid = verdict == "valid"
            candidate.verdict, candidate.reason = verdict, reason
            return False, [with_verdict(arrival, verdict, reason)]
        try:
            undo = memo.apply(state, block)
        except ChainError as exc:
            candidate.valid = False
            candidate.verdict, candidate.reason = verdict_for(exc), exc.message
            if not isinstance(exc, BadBuilderSignature):
                memo.note(run, key, candidate.verdict, exc.message)
            return False, [with_verdict(arrival, candidate.verdict, exc.message)]
        memo.note(run, key, "valid", "")
        candidate.valid = True
        return await self.runner.decide_on_arrival(run, candidate, arrival, undo, started)

    @staticmethod
    def arrival_event(run: SlotRun, candidate: Candidate) -> EventRecord:
        """The arrival event of ``candidate`` (its verdict still to come)."""
        block = candidate.block
        return EventRecord(
            kind="arrival",
            ts_ms=candidate.arrival_ms,
            slot=run.slot,
            member=candidate.member,
            block_id=block.id,
            offset_ms=candidate.offset_ms,
            fees=candidate.fees,
            tx_count=len(block.transactions),
        )

    def _by_signatures(self, run: SlotRun, candidate: Candidate, cached: tuple[str, str]) -> tuple[str, str]:
        """The verdict of a candidate whose content was judged already (``cached``): the
        builder's signature is checked, and ``candidate`` marked with the verdict."""
        try:
            verify_block_signatures(self.follower.state, candidate.block, producer_signature=False)
            verdict, reason = cached
        except ChainError as exc:
            verdict, reason = verdict_for(exc), exc.message
        candidate.valid = verdict == "valid" and not run.decided
        candidate.verdict, candidate.reason = verdict, reason
        return verdict, reason

    def _judged_aside(self, run: SlotRun, candidate: Candidate, cached: tuple[str, str]) -> EventRecord:
        """Same content as a candidate judged already, the slot emitted or being emitted: only
        the builder differs, and only its signature is checked (a read of the replica)."""
        # Still a candidate should the emission on its way fail (the slot's loop decides again).
        verdict, reason = self._by_signatures(run, candidate, cached)
        if verdict == "valid":
            reason = (
                self.already_decided(run) if run.decided else f"valid, but slot {run.slot} is being emitted"
            )
        return with_verdict(self.arrival_event(run, candidate), verdict, reason)

    async def _judged_before(
        self,
        run: SlotRun,
        candidate: Candidate,
        arrival: EventRecord,
        cached: tuple[str, str],
        started: float,
    ) -> tuple[bool, list[EventRecord]]:
        """Same content as a candidate judged already: only the builder differs."""
        verdict, reason = self._by_signatures(run, candidate, cached)
        if verdict == "valid" and not run.decided:
            return await self.runner.decide_on_arrival(run, candidate, arrival, None, started)
        if verdict == "valid":
            reason = self.already_decided(run)
        return False, [with_verdict(arrival, verdict, reason)]

    def judge_after_emission(self, run: SlotRun, block: Block) -> tuple[str, str]:
        """Validate a candidate for a slot already decided, against the slot's parent state
        (the replica's head when no block for the slot reached it; else the head stepped back
        for the trial and forth again)."""
        state = self.follower.state
        emitted = run.emitted
        undo: list[Any]
        if state.head_id == run.prev_id:
            undo = []  # the head is the slot's parent: nothing to step back from
        elif emitted is not None and state.head_id == emitted.id and run.emitted_undo:
            # Our own reference to the undo log: fork choice drops it once the block is final,
            # which on a one-producer chain is at once. Stepping back and forth is local.
            undo = run.emitted_undo
        else:
            return "valid_unchecked", "the slot's block is no longer the head; not re-validated"
        forward = state.snapshot(undo) if undo else None
        if undo:
            state.undo(undo)
        try:
            trial = self.memo.apply(state, block)
            state.undo(trial)
            return "valid", self.already_decided(run)
        except ChainError as exc:
            return verdict_for(exc), exc.message
        finally:
            if forward is not None:
                state.restore(forward)

    @staticmethod
    def already_decided(run: SlotRun) -> str:
        """Why a valid candidate for ``run`` is not emitted."""
        if run.emitted is not None or not run.reason:
            return f"valid, but slot {run.slot} was already emitted"
        return f"valid, but slot {run.slot} is decided: {run.reason}"

    def _record_evidence(self, member: str, slot: int, first: Block, second: Block, arrival_ms: int) -> None:
        """Keep both blocks of an equivocation as evidence."""
        items = [
            {
                "slot": slot,
                "member": member,
                "block_id": b.id,
                "ts_ms": arrival_ms,
                "data": canonical_bytes_trusted(b.to_dict()),
            }
            for b in (first, second)
        ]
        with self.storage.writing():
            crud.record_evidence(self.engine, items=items)

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
        event = EventRecord(
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
        with self.storage.writing():
            await self.writer.append([event])
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
        any case-insensitive mapping), or an error saying what is wrong; a refusal is counted
        by reason. The pool account signs admin requests."""
        try:
            signed = self.verifier.read(headers)
            member = signed.member
            # Verify the requester is known (the pool account signs admin requests)
            if member == self.pool:
                row: dict[str, Any] = {
                    "account": self.pool,
                    "public_key": self.pool_public_key,
                    "status": "pool",
                }
            else:
                found = self.membership.members.get(member)
                if found is None:
                    raise UnknownMember(f"{member} is not a member of pool {self.pool}; apply first")
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
                raise MemberNotActive(f"member {member} is {row['status']}, not active")
        except (RequestRefused, EmitterError) as exc:
            self.metrics.requests_rejected.labels(reason=exc.code).inc()
            raise
        return row
