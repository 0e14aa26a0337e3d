"""Emission: the one path by which a block leaves the pool, for a member's candidate chosen
by the strategy and for the fallback alike.

In order: countersign with the pool key -> record (committed: the slot's unique emission,
with its log entries) -> hand to the node (the commit of a prepared candidate, or the push)
-> adopt into the replica. A block on chain is therefore always the recorded one, and a
recorded one is pushed again after a restart. The fault points of :mod:`emitter.faults` sit
between these steps (``*.after_sign``, ``*.after_record``, ``emit.after_commit_sent``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import orjson

from chain.core import Block, PrivateKey
from chain.core.containers import encode_block
from emitter import crud
from emitter.context import Context
from emitter.crud import AlreadyEmitted, EventRecord
from emitter.delivery import Delivery
from emitter.expected import content_of
from emitter.slotrun import SlotRun
from emitter.storage import StorageUnavailable

log = logging.getLogger("bppool.emitter")


class Emission:
    """Signs, records and delivers the pool's block for a slot."""

    def __init__(
        self, ctx: Context, *, pool_key: PrivateKey, delivery: Delivery, strategy: Callable[[], str]
    ) -> None:
        self.pool_key = pool_key
        self.clock = ctx.timing.clock
        self.follower = ctx.follower
        self.engine = ctx.engine
        self.storage = ctx.storage
        self.delivery = delivery
        self.faults = ctx.faults
        self.metrics = ctx.metrics
        self.spawn = ctx.spawn
        self.strategy = strategy  # the strategy in force, named in the emission's log entry

    def emit(
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
            self._record(run, signed, data, source=source, winner=winner, reason=reason, arrival=arrival)
        except AlreadyEmitted:
            self.follower.state.undo(undo)
            log.warning("slot %d: already emitted elsewhere; not emitting %s", run.slot, signed.id[:16])
            self.deliver_recorded(run)
            return False
        except BaseException:
            # Whatever failed (the storage above all), the replica must not keep a block that
            # was not emitted: it would refuse the node's next blocks as not following it.
            self.follower.state.undo(undo)
            raise
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

    def _record(
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
            if arrival is not None:
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

    def deliver_recorded(self, run: SlotRun) -> None:
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
        self.spawn(self.delivery.push(data, run.slot, None))
