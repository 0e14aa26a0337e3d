"""Data access for the emitter group's signing guard: the watermark and ceiling, and the claims
(the lease and the instances are in :mod:`emitter.leasestore`). Keyword-only functions;
nothing here knows about HTTP.

Every time that decides something is the database's clock (:func:`db_now_sql`), read inside
the statement that decides: the instances' own clocks never judge a lease or a heartbeat.

A claim is one transaction (READ COMMITTED on PostgreSQL): a conditional ``UPDATE`` of the
producer's watermark row, which locks it (the per-key lock) and refuses a slot at or below the
watermark or above the ceiling; a fenced claim also needs the lease at the claimant's epoch,
and a group instance's claim its own heartbeat within the lease's lifetime (an instance that
was paused is refused until it has been seen again). Then the ``INSERT`` of the claim under
the primary key (producer, slot). Two instances racing for one slot serialize on the row lock;
the second finds the watermark raised and is refused. None of it depends on a clock agreeing
with another: the watermark and the key decide.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import psycopg
from sqlalchemy import bindparam, func, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Dialect, Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import SQLModel

import emitter.models  # noqa: F401  (registers the tables)
from service_shell.pgasync import AsyncWriter

TABLES = SQLModel.metadata.tables
SIGNER = TABLES["pool_signer"]
CLAIM = TABLES["pool_claim"]
LEASE = TABLES["pool_lease"]
INSTANCE = TABLES["pool_instance"]
EMISSION = TABLES["pool_emission"]

LEASE_NAME = "leader"  # the lease row that fenced claims check

# Why a claim was refused (``won`` when it was not).
WON = "won"
CLAIMED = "claimed"  # the slot has its claim already (another instance, or an earlier try)
BELOW_WATERMARK = "below_watermark"  # a later slot is claimed, or the chain has one signed
ABOVE_CEILING = "above_ceiling"  # the operator froze signing below this slot
TOO_LATE = "too_late"  # the slot ended before the claim could be made or signed
FENCED = "fenced"  # the lease (or this instance's own heartbeat) is not what the claim needs
CLAIM_RESULTS = (WON, CLAIMED, BELOW_WATERMARK, ABOVE_CEILING, TOO_LATE, FENCED)


@lru_cache(maxsize=8)
def db_now_sql(dialect: Dialect) -> str:
    """The SQL of the database's clock in milliseconds since the epoch (an integer)."""
    if dialect.name == "postgresql":
        return "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)"
    return "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)"


def db_now(conn: Connection) -> int:
    """The database's clock now (ms)."""
    return int(conn.execute(text(f"SELECT {db_now_sql(conn.dialect)}")).scalar_one())


def dialect_insert(dialect: Dialect, table: Any) -> Any:
    """An ``INSERT`` of ``table`` that can take ``ON CONFLICT`` clauses on either database."""
    return (postgresql if dialect.name == "postgresql" else sqlite).insert(table)


# --- the signer: watermark and ceiling ------------------------------------------------------------


def _signer_row(conn: Connection, producer: str) -> int:
    """The producer's watermark row exists (at 0 when new); the database's clock now."""
    now = db_now(conn)
    conn.execute(
        dialect_insert(conn.dialect, SIGNER)
        .values(producer=producer, watermark=0, ceiling=None, chain_slot=None, updated_ms=now)
        .on_conflict_do_nothing(index_elements=["producer"])
    )
    return now


def ensure_signer(engine: Engine, *, producer: str) -> None:
    """Create the producer's watermark row (at 0) when missing, and raise it above every
    emission on record (a database that kept emissions from before the claims existed)."""
    with engine.begin() as conn:
        now = _signer_row(conn, producer)
        recorded = conn.execute(select(func.max(EMISSION.c.slot))).scalar_one()
        if recorded is not None:
            _raise(conn, producer, int(recorded), now)


def _raise(conn: Connection, producer: str, slot: int, now: int) -> bool:
    result = conn.execute(
        SIGNER.update()
        .where(SIGNER.c.producer == producer, SIGNER.c.watermark < slot)
        .values(watermark=slot, updated_ms=now)
    )
    return bool(result.rowcount)


def raise_watermark(engine: Engine, *, producer: str, slot: int, chain: bool = False) -> bool:
    """Raise the watermark to ``slot`` (never lower it); with ``chain`` the slot is also noted
    as the newest the chain was seen to hold. Returns whether it rose."""
    with engine.begin() as conn:
        now = db_now(conn)
        if chain:
            conn.execute(
                SIGNER.update()
                .where(
                    SIGNER.c.producer == producer,
                    (SIGNER.c.chain_slot.is_(None)) | (SIGNER.c.chain_slot < slot),
                )
                .values(chain_slot=slot)
            )
        return _raise(conn, producer, slot, now)


def set_ceiling(engine: Engine, *, producer: str, ceiling: int | None) -> dict[str, Any]:
    """Freeze signing above ``ceiling`` (``None`` lifts it); returns the signer row."""
    with engine.begin() as conn:
        now = _signer_row(conn, producer)
        conn.execute(
            SIGNER.update().where(SIGNER.c.producer == producer).values(ceiling=ceiling, updated_ms=now)
        )
        return dict(conn.execute(select(SIGNER).where(SIGNER.c.producer == producer)).mappings().one())


def get_signer(engine: Engine, *, producer: str) -> dict[str, Any] | None:
    with engine.connect() as conn:
        row = conn.execute(select(SIGNER).where(SIGNER.c.producer == producer)).mappings().first()
        return dict(row) if row else None


# --- claims ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClaimRequest:
    """What an instance asks to claim: the digest the pool key will sign for ``slot`` (``None``:
    the slot is declared missed, nothing will be signed), by whom; ``fenced``: only while it
    holds the lease at ``epoch``; ``alive_within_ms``: only if the instance's own heartbeat is
    that recent (a group instance; ``None`` on the single instance)."""

    producer: str
    slot: int
    digest: str | None
    block_id: str | None
    source: str
    builder: str | None
    instance: str
    epoch: int
    fenced: bool
    alive_within_ms: int | None


@lru_cache(maxsize=8)
def _claim_sql(dialect: Dialect, fenced: bool, alive: bool) -> tuple[Any, Any]:
    now = db_now_sql(dialect)
    lease = (
        f" AND EXISTS (SELECT 1 FROM pool_lease WHERE name = '{LEASE_NAME}' AND holder = :instance"
        f" AND epoch = :epoch AND expires_ms > {now})"
        if fenced
        else ""
    )
    heartbeat = (
        " AND EXISTS (SELECT 1 FROM pool_instance WHERE instance = :instance"
        f" AND seen_ms > {now} - :alive_within_ms)"
        if alive
        else ""
    )
    update = text(
        f"UPDATE pool_signer SET watermark = :slot, updated_ms = {now} "  # noqa: S608 - constants
        "WHERE producer = :producer AND watermark < :slot "
        f"AND (ceiling IS NULL OR :slot <= ceiling){lease}{heartbeat}"
    )
    insert = text(
        "INSERT INTO pool_claim (producer, slot, digest, block_id, source, builder, instance, epoch, "
        f"claimed_ms) VALUES (:producer, :slot, :digest, :block_id, :source, :builder, :instance, :epoch, "
        f"{now}) RETURNING claimed_ms"
    )
    return update, insert


def claim(engine: Engine, request: ClaimRequest) -> tuple[str, dict[str, Any] | None]:
    """Claim ``request.slot`` in one transaction: ``(WON, claim row)``, or the reason it was
    refused and the slot's claim when it has one."""
    update, insert = _claim_sql(engine.dialect, request.fenced, request.alive_within_ms is not None)
    params = _claim_params(request)
    try:
        with engine.begin() as conn:
            if conn.execute(update, params).rowcount == 1:
                claimed_ms = int(conn.execute(insert, params).scalar_one())
                row = {k: v for k, v in params.items() if k != "alive_within_ms"}
                return WON, {**row, "claimed_ms": claimed_ms}
    except IntegrityError:
        # The unique (producer, slot) said no although the watermark let it through (a
        # watermark lowered by hand): the constraint is the last line, never dropped.
        pass
    return _refusal(engine, request)


def _claim_params(request: ClaimRequest) -> dict[str, Any]:
    return {
        "producer": request.producer,
        "slot": request.slot,
        "digest": request.digest,
        "block_id": request.block_id,
        "source": request.source,
        "builder": request.builder,
        "instance": request.instance,
        "epoch": request.epoch,
        "alive_within_ms": request.alive_within_ms,
    }


@lru_cache(maxsize=8)
def _driver_sql(dialect: Dialect, fenced: bool, alive: bool) -> tuple[str, str, str]:
    """The claim as one statement for the driver (PostgreSQL, ``%(name)s`` parameters): the
    conditional update of the watermark row and the insert of the claim in one CTE, atomic on
    its own; and the two reads that say why a claim was refused."""
    update, _ = _claim_sql(dialect, fenced, alive)
    now = db_now_sql(dialect)
    claim = text(
        f"WITH raised AS ({update.text} RETURNING producer) "
        "INSERT INTO pool_claim (producer, slot, digest, block_id, source, builder, instance, epoch, "
        f"claimed_ms) SELECT producer, :slot, :digest, :block_id, :source, :builder, :instance, :epoch, "
        f"{now} FROM raised RETURNING claimed_ms"
    )
    existing = select(CLAIM).where(
        CLAIM.c.producer == bindparam("producer"), CLAIM.c.slot == bindparam("slot")
    )
    signer = select(SIGNER.c.watermark, SIGNER.c.ceiling).where(SIGNER.c.producer == bindparam("producer"))
    return tuple(str(q.compile(dialect=dialect)) for q in (claim, existing, signer))  # type: ignore[return-value]


async def claim_async(
    writer: AsyncWriter, dialect: Dialect, request: ClaimRequest
) -> tuple[str, dict[str, Any] | None]:
    """:func:`claim` on an :class:`AsyncWriter` (PostgreSQL): one statement, one round trip,
    awaited. The watermark row's lock and the unique (producer, slot) decide as in
    :func:`claim`."""
    claim_sql, existing_sql, signer_sql = _driver_sql(
        dialect, request.fenced, request.alive_within_ms is not None
    )
    params = _claim_params(request)

    async def work(cursor: Any) -> int | None:
        await cursor.execute(claim_sql, params)
        row = await cursor.fetchone()
        return int(row[0]) if row is not None else None

    try:
        claimed_ms = await writer.run(work, transaction=False)
    except psycopg.IntegrityError:  # the unique (producer, slot), as in claim()
        claimed_ms = None
    if claimed_ms is not None:
        row = {k: v for k, v in params.items() if k != "alive_within_ms"}
        return WON, {**row, "claimed_ms": claimed_ms}

    async def why(cursor: Any) -> tuple[dict[str, Any] | None, tuple[int, int | None] | None]:
        await cursor.execute(existing_sql, params)
        found = await cursor.fetchone()
        claim_row = dict(zip([c.name for c in cursor.description], found, strict=True)) if found else None
        await cursor.execute(signer_sql, params)
        signer = await cursor.fetchone()
        return claim_row, (int(signer[0]), signer[1]) if signer else None

    claim_row, signer = await writer.run(why, transaction=False)
    return _refusal_reason(request, claim_row, signer)


def _refusal_reason(
    request: ClaimRequest, existing: dict[str, Any] | None, signer: tuple[int, int | None] | None
) -> tuple[str, dict[str, Any] | None]:
    """Why ``request`` was refused, given the slot's claim and the watermark and ceiling read
    after the fact (the first reason that holds)."""
    if existing is not None:
        return CLAIMED, existing
    if signer is None or request.slot <= signer[0]:
        return BELOW_WATERMARK, None
    if signer[1] is not None and request.slot > signer[1]:
        return ABOVE_CEILING, None
    return FENCED, None


def _refusal(engine: Engine, request: ClaimRequest) -> tuple[str, dict[str, Any] | None]:
    """Why ``request`` was refused, read after the fact (first reason that holds)."""
    with engine.connect() as conn:
        existing = (
            conn.execute(
                select(CLAIM).where(CLAIM.c.producer == request.producer, CLAIM.c.slot == request.slot)
            )
            .mappings()
            .first()
        )
        signer = conn.execute(
            select(SIGNER.c.watermark, SIGNER.c.ceiling).where(SIGNER.c.producer == request.producer)
        ).first()
    return _refusal_reason(
        request, dict(existing) if existing else None, (int(signer[0]), signer[1]) if signer else None
    )


def get_claim(engine: Engine, *, producer: str, slot: int) -> dict[str, Any] | None:
    with engine.connect() as conn:
        row = (
            conn.execute(select(CLAIM).where(CLAIM.c.producer == producer, CLAIM.c.slot == slot))
            .mappings()
            .first()
        )
        return dict(row) if row else None


def list_claims(
    engine: Engine, *, producer: str, slot_from: int = 0, limit: int = 100_000
) -> list[dict[str, Any]]:
    """The claims from ``slot_from`` on, oldest first."""
    query = (
        select(CLAIM)
        .where(CLAIM.c.producer == producer, CLAIM.c.slot >= slot_from)
        .order_by(CLAIM.c.slot)
        .limit(limit)
    )
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(query).mappings().all()]


def orphan_claims(
    engine: Engine, *, producer: str, slot_from: int, slot_to: int, alive_within_ms: int
) -> list[dict[str, Any]]:
    """Claims for slots in [slot_from, slot_to] whose slot has no outcome in the event log and
    whose instance is no longer seen alive (it stopped before closing the slot)."""
    now = db_now_sql(engine.dialect)
    query = text(
        "SELECT c.slot, c.source, c.block_id, c.builder, c.instance FROM pool_claim c "  # noqa: S608
        "WHERE c.producer = :producer AND c.slot BETWEEN :slot_from AND :slot_to "
        "AND NOT EXISTS (SELECT 1 FROM pool_event e WHERE e.kind = 'slot' AND e.slot = c.slot) "
        "AND NOT EXISTS (SELECT 1 FROM pool_instance i WHERE i.instance = c.instance "
        f"AND i.seen_ms > {now} - :alive_within_ms) ORDER BY c.slot"
    )
    params = {
        "producer": producer,
        "slot_from": slot_from,
        "slot_to": slot_to,
        "alive_within_ms": alive_within_ms,
    }
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(query, params).mappings().all()]
