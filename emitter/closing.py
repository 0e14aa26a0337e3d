"""A pool slot's close: its outcome counted and logged once for the whole group.

In an emitter group every instance runs every pool slot, and the slot's outcome event is the
claim holder's to write (with the arrivals every instance logged); a slot nobody claimed is the
leader's to log, and to count (every instance counts it while the group has no leader). The
leader also logs the outcome of recent slots whose claim holder stopped (killed) before closing
them, so that the log has one outcome for every claimed slot. On SQLite the single instance
holds every claim.
"""

from __future__ import annotations

import contextlib
import logging

from emitter import crud, groupstore
from emitter.claims import MISSED, Claims
from emitter.context import Context
from emitter.crud import EventRecord
from emitter.group import Group
from emitter.slotrun import SlotRun
from emitter.storage import StorageUnavailable
from pool_protocol.outcomes import VALID_VERDICTS

log = logging.getLogger("bppool.emitter")

ORPHAN_LOOKBACK_SLOTS = 120  # how far back the leader looks for claimed slots nobody closed

Claim = dict[str, object]


def compute_outcome(source: str) -> str:
    """The slot outcome of a claim's ``source``: emitted (a member's block), fallback, missed."""
    if source == "member":
        return "emitted"
    return "missed" if source == MISSED else "fallback"


class SlotClosing:
    """Counts and logs the outcome of each slot this instance closes."""

    def __init__(self, ctx: Context, *, claims: Claims, group: Group) -> None:
        self.pool = ctx.pool
        self.clock = ctx.timing.clock
        self.engine = ctx.engine
        self.storage = ctx.storage
        self.metrics = ctx.metrics
        self.claims = claims
        self.group = group

    def close(self, run: SlotRun) -> tuple[str, str | None, str | None]:
        """Count and log ``run``'s outcome where it is this instance's to; returns
        ``(outcome, winner, block id)``."""
        claim = run.claim if run.claim is not None else self._read_claim(run)
        outcome, winner, block_id = self._outcome(run, claim)
        group = self.group
        if claim is not None:
            ours = logs = claim["instance"] == self.claims.instance
        else:  # nobody claimed it: the leader's to log, and to count (everyone's, without one)
            logs = group.leads()
            ours = logs or group.holder is None
        if ours:
            # Counted whether or not the storage takes the outcome: a missed slot must show.
            self.metrics.slot_outcomes.labels(outcome=outcome).inc()
        if logs:
            self._log_outcome(run, claim, outcome, winner, block_id)
            if group.shared and group.leads():
                self._log_orphans(run.slot)
        return outcome, winner, block_id

    def _read_claim(self, run: SlotRun) -> Claim | None:
        """The slot's claim as the database has it (in a group another instance may hold it)."""
        if not self.group.shared:
            return None
        try:
            with self.storage.writing():
                return self.claims.get(run.slot)
        except StorageUnavailable:
            return None

    @staticmethod
    def _outcome(run: SlotRun, claim: Claim | None) -> tuple[str, str | None, str | None]:
        """``(outcome, winner, block id)`` of ``run``: from its claim when it has one."""
        if claim is None:
            if run.emitted is not None and run.source is not None:  # emitted here, claim unread
                return compute_outcome(run.source), run.winner, run.emitted.id
            return "missed", None, None
        source = str(claim["source"])
        block_id = claim.get("block_id")
        winner = claim.get("builder") if source == "member" else None
        return (
            compute_outcome(source),
            winner if isinstance(winner, str) else None,
            block_id if isinstance(block_id, str) else None,
        )

    def _log_outcome(
        self, run: SlotRun, claim: Claim | None, outcome: str, winner: str | None, block_id: str | None
    ) -> None:
        """The slot's outcome event (with, in a group, the arrivals of every instance)."""
        arrivals = len(run.candidates)
        valid = sum(1 for c in run.candidates if c.verdict in VALID_VERDICTS)
        with contextlib.suppress(StorageUnavailable), self.storage.writing():
            if self.group.shared:
                arrivals, valid = crud.slot_arrivals(self.engine, slot=run.slot)
            event = EventRecord(
                kind="slot",
                ts_ms=self.clock.now_ms(),
                slot=run.slot,
                member=winner,
                block_id=block_id,
                verdict=outcome,
                reason=run.reason,
                data={
                    "arrivals": arrivals,
                    "valid": valid,
                    "source": claim["source"] if claim is not None else run.source,
                    "instance": self.claims.instance,
                },
            )
            crud.close_slot(self.engine, outcome=event, accepted_by=run.accepted_by)
        log.debug("slot %d closed: %s (%d arrivals, %d valid)", run.slot, outcome, arrivals, valid)

    def _log_orphans(self, slot: int) -> None:
        """The outcome of recent slots whose claim holder stopped before closing them."""
        try:
            with self.storage.writing():
                orphans = groupstore.orphan_claims(
                    self.engine,
                    producer=self.pool,
                    slot_from=max(0, slot - ORPHAN_LOOKBACK_SLOTS),
                    slot_to=slot - 1,
                    alive_within_ms=self.group.ttl_ms,
                )
                for claim in orphans:
                    source, orphan = str(claim["source"]), int(claim["slot"])
                    arrivals, valid = crud.slot_arrivals(self.engine, slot=orphan)
                    event = EventRecord(
                        kind="slot",
                        ts_ms=self.clock.now_ms(),
                        slot=orphan,
                        member=claim["builder"] if source == "member" else None,
                        block_id=claim["block_id"],
                        verdict=compute_outcome(source),
                        reason=f"logged by the leader: {claim['instance']} stopped before closing the slot",
                        data={
                            "arrivals": arrivals,
                            "valid": valid,
                            "source": source,
                            "instance": self.claims.instance,
                        },
                    )
                    crud.append_events(self.engine, events=[event])
        except StorageUnavailable:
            return
