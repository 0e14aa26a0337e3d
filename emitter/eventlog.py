"""The emitter's event log, read through the narrow interface the DAC and auditors use.

Aggregates over ``pool_event`` only: per-member arrival counts by verdict, the pool slots in a
slot range, the slots in which the slot feed opened, and which event ids exist. Nothing here
touches the emitter's internals.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict
from typing import Any

from sqlalchemy import case, distinct, func, select
from sqlalchemy.engine import Engine

from emitter.crud import EVENT, FEED_OPEN, SERVICE_EVENT, list_events
from pool_protocol.outcomes import RANKED_VERDICTS, SELECTED, VALID_VERDICTS, DeliveryTally


class EventLogReader:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def member_metrics(self, start_slot: int, end_slot: int) -> tuple[int, dict[str, dict[str, int]]]:
        """``(pool slots, {member: {deliveries, valid, wins}})`` for slots in [start, end); a
        member's deliveries for one slot count once, by their best verdict (as
        :func:`pool_protocol.outcomes.compute_delivery_tallies` counts them)."""
        in_range = (EVENT.c.slot >= start_slot) & (EVENT.c.slot < end_slot)
        rank = case(
            (EVENT.c.verdict == SELECTED, 2),
            (EVENT.c.verdict.in_(VALID_VERDICTS), 1),
            else_=0,
        )
        per_slot = (
            select(EVENT.c.member, EVENT.c.slot, func.max(rank).label("best"))
            .where((EVENT.c.kind == "arrival") & in_range)
            .group_by(EVENT.c.member, EVENT.c.slot)
            .subquery()
        )
        with self.engine.connect() as conn:
            pool_slots = conn.execute(
                select(func.count(distinct(EVENT.c.slot))).where((EVENT.c.kind == "slot") & in_range)
            ).scalar_one()
            rows = conn.execute(
                select(per_slot.c.member, per_slot.c.best, func.count()).group_by(
                    per_slot.c.member, per_slot.c.best
                )
            ).all()
        tallies: dict[str, DeliveryTally] = {}
        for member, best, count in rows:
            tallies.setdefault(member, DeliveryTally()).add(RANKED_VERDICTS[int(best)], count)
        return int(pool_slots), {member: asdict(tally) for member, tally in tallies.items()}

    def pool_slot_numbers(self, start_slot: int, end_slot: int) -> list[int]:
        """The pool slots the service ran (a ``slot`` outcome) in [start, end), in order, each
        once."""
        in_range = (EVENT.c.slot >= start_slot) & (EVENT.c.slot < end_slot)
        with self.engine.connect() as conn:
            found = conn.execute(
                select(EVENT.c.slot)
                .distinct()
                .where((EVENT.c.kind == "slot") & in_range)
                .order_by(EVENT.c.slot)
            ).scalars()
            return [int(s) for s in found]

    def feed_openings(self, end_slot: int) -> list[int]:
        """The slots (before ``end_slot``) in which the service's slot feed opened, in order."""
        with self.engine.connect() as conn:
            found = conn.execute(
                select(EVENT.c.slot)
                .where((EVENT.c.kind == SERVICE_EVENT) & (EVENT.c.verdict == FEED_OPEN))
                .where(EVENT.c.slot < end_slot)
                .order_by(EVENT.c.slot)
            ).scalars()
            return [int(s) for s in found]

    def existing_event_ids(self, ids: Iterable[int]) -> set[int]:
        wanted = sorted(set(ids))
        if not wanted:
            return set()
        with self.engine.connect() as conn:
            found = conn.execute(select(EVENT.c.id).where(EVENT.c.id.in_(wanted))).scalars().all()
        return {int(i) for i in found}

    def events(self, **filters: Any) -> list[dict[str, Any]]:
        return list_events(self.engine, **filters)
