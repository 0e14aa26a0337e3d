"""Data access for the emitter. Keyword-only functions; nothing here knows about HTTP.

The hot path (an arrival, and the emission it may cause) is one transaction with SQLAlchemy
Core inserts: the arrival is durable before the member is answered, and an emission is
durable, under the primary key on its slot, before the block is pushed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any

import orjson
from sqlalchemy import func, insert, select, update
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import SQLModel

import emitter.models  # noqa: F401  (registers the tables)
from pool_protocol.outcomes import VALID_VERDICTS, DeliveryTally

TABLES = SQLModel.metadata.tables
EVENT = TABLES["pool_event"]
EMISSION = TABLES["pool_emission"]
MEMBER = TABLES["pool_member"]
EVIDENCE = TABLES["pool_evidence"]

ACTIVE = "active"
MEMBER_STATUSES = ("applied", "active", "suspended", "removed")
# The event the service logs each time its slot feed opens (at every start), with the slot
# then in progress: the DAC's participation rule counts pool slots from it (docs/dac.md).
SERVICE_EVENT = "service"
FEED_OPEN = "feed_open"


class AlreadyEmitted(Exception):
    """The slot already has its block (the unique key on the slot said no)."""


@dataclass(frozen=True)
class EventRecord:
    """One event to append."""

    kind: str
    ts_ms: int
    slot: int | None = None
    member: str | None = None
    block_id: str | None = None
    offset_ms: int | None = None
    verdict: str | None = None
    reason: str | None = None
    fees: int | None = None
    tx_count: int | None = None
    data: dict[str, Any] | None = None

    def row(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "ts_ms": self.ts_ms,
            "slot": self.slot,
            "member": self.member,
            "block_id": self.block_id,
            "offset_ms": self.offset_ms,
            "verdict": self.verdict,
            "reason": self.reason,
            "fees": self.fees,
            "tx_count": self.tx_count,
            "data": orjson.dumps(self.data).decode() if self.data is not None else None,
        }


# --- events ------------------------------------------------------------------------------------


EVENT_COLUMNS = tuple(EventRecord("", 0).row())


@lru_cache(maxsize=8)
def _event_insert(dialect: Dialect) -> tuple[str, tuple[str, ...] | None]:
    """The driver-level INSERT of an event row for ``dialect``, with its parameter order
    (``None``: named parameters)."""
    compiled = insert(EVENT).compile(dialect=dialect, column_keys=list(EVENT_COLUMNS))
    order = tuple(compiled.positiontup or ()) if compiled.positional else None
    return str(compiled), order


def _event_params(events: Sequence[EventRecord], order: tuple[str, ...] | None) -> list[Any]:
    """The driver parameters of ``events`` for :func:`_event_insert`'s statement."""
    rows = [e.row() for e in events]
    return rows if order is None else [tuple(row[k] for k in order) for row in rows]


def append_events(engine: Engine, *, events: list[EventRecord]) -> None:
    """Append events in one transaction.

    The event log's hot path (every arrival): the statement is compiled once per dialect and
    the rows go to the driver's ``executemany`` (a third of the cost of a Core ``insert``)."""
    if not events:
        return
    sql, order = _event_insert(engine.dialect)
    with engine.begin() as conn:
        conn.exec_driver_sql(sql, _event_params(events, order))


class EventAppender:
    """Appends events on a database connection of its own, kept open between batches: the
    group commit of the arrivals (no pool checkout and no SQLAlchemy transaction per batch;
    ~0.2 ms less per commit on SQLite). Not thread-safe: one writer owns it."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sql, self.order = _event_insert(engine.dialect)
        self._conn: Any = None

    def append(self, events: Sequence[EventRecord]) -> None:
        """Append ``events`` in one committed transaction (raises, having written nothing,
        when the database refuses)."""
        if not events:
            return
        rows = _event_params(events, self.order)
        if self._conn is None:
            self._conn = self.engine.raw_connection()
        conn = self._conn
        try:
            cursor = conn.cursor()
            try:
                cursor.executemany(self.sql, rows)
            finally:
                cursor.close()
            conn.commit()
        except Exception:
            self._conn = None
            with contextlib.suppress(Exception):
                conn.rollback()
            with contextlib.suppress(Exception):
                conn.invalidate()  # a broken connection is not reused
            raise

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def record_arrival(
    engine: Engine,
    *,
    arrival: EventRecord,
    emission: dict[str, Any] | None = None,
    extra: Sequence[EventRecord] = (),
) -> None:
    """Log an arrival and, in the same transaction, the emission it causes (raises
    :class:`AlreadyEmitted` when the slot has its block already; nothing is written then)."""
    try:
        with engine.begin() as conn:
            # The emission goes first: when its slot has a block already, the whole
            # transaction rolls back before anything else is written.
            if emission is not None:
                conn.execute(insert(EMISSION), [emission])
            conn.execute(insert(EVENT), [arrival.row(), *(e.row() for e in extra)])
    except IntegrityError:
        if emission is None:
            raise
        raise AlreadyEmitted(f"slot {emission['slot']} already has its block") from None


def record_emission(engine: Engine, *, emission: dict[str, Any], events: list[EventRecord]) -> None:
    """Record a fallback emission under the unique slot key, with its events."""
    try:
        with engine.begin() as conn:
            conn.execute(insert(EMISSION), [emission])
            if events:
                conn.execute(insert(EVENT), [e.row() for e in events])
    except IntegrityError:
        raise AlreadyEmitted(f"slot {emission['slot']} already has its block") from None


def get_emission(engine: Engine, *, slot: int) -> dict[str, Any] | None:
    with engine.connect() as conn:
        row = conn.execute(select(EMISSION).where(EMISSION.c.slot == slot)).mappings().first()
        return dict(row) if row else None


def get_emission_by_block(engine: Engine, *, block_id: str) -> dict[str, Any] | None:
    with engine.connect() as conn:
        row = conn.execute(select(EMISSION).where(EMISSION.c.block_id == block_id)).mappings().first()
        return dict(row) if row else None


def unaccepted_emissions(engine: Engine, *, after_slot: int) -> list[dict[str, Any]]:
    """The emissions after ``after_slot`` no node is recorded to have taken, oldest first."""
    query = (
        select(EMISSION)
        .where(EMISSION.c.slot > after_slot, EMISSION.c.accepted_by.is_(None))
        .order_by(EMISSION.c.slot)
    )
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(query).mappings().all()]


def mark_accepted(engine: Engine, *, slot: int, node_url: str) -> None:
    """Record which node took a slot's block."""
    with engine.begin() as conn:
        conn.execute(update(EMISSION).where(EMISSION.c.slot == slot).values(accepted_by=node_url))


def close_slot(engine: Engine, *, outcome: EventRecord, accepted_by: str | None) -> None:
    """A slot's outcome event and, in the same transaction, which node took its block.

    Updating the emission row rewrites its ~170 kB block too, so it waits for the slot's
    close rather than landing among the slot's deliveries."""
    with engine.begin() as conn:
        if accepted_by is not None and outcome.slot is not None:
            conn.execute(
                update(EMISSION).where(EMISSION.c.slot == outcome.slot).values(accepted_by=accepted_by)
            )
        sql, order = _event_insert(engine.dialect)
        conn.exec_driver_sql(sql, _event_params([outcome], order)[0])


def list_events(
    engine: Engine,
    *,
    after_id: int = 0,
    limit: int = 500,
    kind: str | None = None,
    member: str | None = None,
    slot: int | None = None,
    slot_from: int | None = None,
    slot_to: int | None = None,
) -> list[dict[str, Any]]:
    """Events with id > ``after_id`` in order, optionally filtered (``slot_to`` exclusive)."""
    query = select(EVENT).where(EVENT.c.id > after_id)
    if slot_from is not None:
        query = query.where(EVENT.c.slot >= slot_from)
    if slot_to is not None:
        query = query.where(EVENT.c.slot < slot_to)
    if kind:
        query = query.where(EVENT.c.kind == kind)
    if member:
        query = query.where(EVENT.c.member == member)
    if slot is not None:
        query = query.where(EVENT.c.slot == slot)
    with engine.connect() as conn:
        rows = conn.execute(query.order_by(EVENT.c.id).limit(limit)).mappings().all()
    return [_event_dict(r) for r in rows]


def _event_dict(row: Any) -> dict[str, Any]:
    data = dict(row)
    if data.get("data"):
        data["data"] = orjson.loads(data["data"])
    return {k: v for k, v in data.items() if v is not None}


def last_event_id(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.coalesce(func.max(EVENT.c.id), 0))).scalar_one())


# --- evidence ----------------------------------------------------------------------------------


def record_evidence(engine: Engine, *, items: list[dict[str, Any]]) -> None:
    with engine.begin() as conn:
        conn.execute(insert(EVIDENCE), items)


def list_evidence(engine: Engine, *, slot: int | None = None) -> list[dict[str, Any]]:
    query = select(EVIDENCE.c.id, EVIDENCE.c.slot, EVIDENCE.c.member, EVIDENCE.c.block_id, EVIDENCE.c.ts_ms)
    if slot is not None:
        query = query.where(EVIDENCE.c.slot == slot)
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(query.order_by(EVIDENCE.c.id)).mappings().all()]


# --- members -----------------------------------------------------------------------------------


def get_member(engine: Engine, *, account: str) -> dict[str, Any] | None:
    with engine.connect() as conn:
        row = conn.execute(select(MEMBER).where(MEMBER.c.account == account)).mappings().first()
        return dict(row) if row else None


def list_members(engine: Engine, *, status: str | None = None) -> list[dict[str, Any]]:
    query = select(MEMBER)
    if status:
        query = query.where(MEMBER.c.status == status)
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(query.order_by(MEMBER.c.account)).mappings().all()]


def save_application(engine: Engine, *, row: dict[str, Any], event: EventRecord) -> dict[str, Any]:
    """Insert or refresh an application (an active member re-applying keeps its status)."""
    with engine.begin() as conn:
        existing = conn.execute(select(MEMBER).where(MEMBER.c.account == row["account"])).mappings().first()
        if existing is None:
            conn.execute(insert(MEMBER), [row])
        else:
            values = {k: v for k, v in row.items() if k not in ("account", "status", "applied_ms")}
            conn.execute(update(MEMBER).where(MEMBER.c.account == row["account"]).values(**values))
        conn.execute(insert(EVENT), [event.row()])
        return dict(conn.execute(select(MEMBER).where(MEMBER.c.account == row["account"])).mappings().one())


def set_member_status(
    engine: Engine, *, account: str, status: str, now_ms: int, event: EventRecord
) -> dict[str, Any] | None:
    """Change a member's status (with its event); ``None`` when there is no such member."""
    with engine.begin() as conn:
        result = conn.execute(
            update(MEMBER).where(MEMBER.c.account == account).values(status=status, updated_ms=now_ms)
        )
        if not result.rowcount:
            return None
        conn.execute(insert(EVENT), [event.row()])
        return dict(conn.execute(select(MEMBER).where(MEMBER.c.account == account)).mappings().one())


def set_member_constitution(engine: Engine, *, account: str, constitution_hash: str, now_ms: int) -> None:
    with engine.begin() as conn:
        conn.execute(
            update(MEMBER)
            .where(MEMBER.c.account == account)
            .values(constitution_hash=constitution_hash, updated_ms=now_ms)
        )


def add_member(engine: Engine, *, row: dict[str, Any], event: EventRecord) -> None:
    """Insert a member directly (pool bootstrap configuration)."""
    with engine.begin() as conn:
        if conn.execute(select(MEMBER.c.account).where(MEMBER.c.account == row["account"])).first() is None:
            conn.execute(insert(MEMBER), [row])
            conn.execute(insert(EVENT), [event.row()])


# --- statistics --------------------------------------------------------------------------------


def member_stats(engine: Engine, *, member: str | None = None) -> dict[str, dict[str, Any]]:
    """Per member: deliveries, valid ones, wins, rejections by verdict and mean offsets."""
    query = (
        select(EVENT.c.member, EVENT.c.verdict, func.count().label("n"))
        .where(EVENT.c.kind == "arrival")
        .group_by(EVENT.c.member, EVENT.c.verdict)
    )
    if member:
        query = query.where(EVENT.c.member == member)
    stats: dict[str, dict[str, Any]] = {}
    with engine.connect() as conn:
        for name, verdict, n in conn.execute(query).all():
            entry = stats.setdefault(
                name, {"deliveries": 0, "valid": 0, "wins": 0, "rejections": {}, "mean_valid_offset_ms": None}
            )
            tally = DeliveryTally()
            tally.add(verdict, n)
            for key, count in asdict(tally).items():
                entry[key] += count
            if verdict not in VALID_VERDICTS:
                entry["rejections"][verdict] = n
        valid_offsets = conn.execute(
            select(EVENT.c.member, func.avg(EVENT.c.offset_ms))
            .where(EVENT.c.kind == "arrival", EVENT.c.verdict.in_(VALID_VERDICTS))
            .group_by(EVENT.c.member)
        ).all()
    for name, mean in valid_offsets:
        if name in stats and mean is not None:
            stats[name]["mean_valid_offset_ms"] = round(float(mean), 1)
    return stats


def slot_arrivals(engine: Engine, *, slot: int) -> tuple[int, int]:
    """``(arrivals, valid ones)`` logged for ``slot``, by every instance of the group."""
    query = select(func.count(), func.count().filter(EVENT.c.verdict.in_(VALID_VERDICTS))).where(
        EVENT.c.kind == "arrival", EVENT.c.slot == slot
    )
    with engine.connect() as conn:
        arrivals, valid = conn.execute(query).one()
    return int(arrivals), int(valid or 0)


def slot_outcomes(engine: Engine, *, limit: int = 50, before_slot: int | None = None) -> list[dict[str, Any]]:
    """The most recent slot outcome events (newest first)."""
    query = select(EVENT).where(EVENT.c.kind == "slot")
    if before_slot is not None:
        query = query.where(EVENT.c.slot < before_slot)
    with engine.connect() as conn:
        rows = conn.execute(query.order_by(EVENT.c.slot.desc()).limit(limit)).mappings().all()
    return [_event_dict(r) for r in rows]


def slot_detail(engine: Engine, *, slot: int) -> dict[str, Any] | None:
    """A slot's outcome, its emission and every arrival with its offset and verdict."""
    events = list_events(engine, slot=slot, limit=10_000)
    if not events:
        return None
    emission = get_emission(engine, slot=slot)
    outcome = next((e for e in events if e["kind"] == "slot"), None)
    return {
        "slot": slot,
        "outcome": outcome.get("verdict") if outcome else "open",
        "winner": emission["builder"] if emission else None,
        "block_id": emission["block_id"] if emission else None,
        "source": emission["source"] if emission else None,
        "arrivals": [e for e in events if e["kind"] == "arrival"],
        "events": [e for e in events if e["kind"] != "arrival"],
    }
