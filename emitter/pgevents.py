"""The pool service's hot-path writes on PostgreSQL, each one statement that is its own
transaction, awaited on an :class:`~service_shell.pgasync.AsyncWriter`: a batch of arrivals
(:class:`AsyncEventAppender`) and an emission with its events (:func:`record_arrival_async`).

One multi-row ``INSERT`` instead of a pipelined ``BEGIN``, one statement per row and
``COMMIT`` is a third of the client's CPU per batch (``docs/group.md``). SQLite keeps its
blocking writes (:mod:`emitter.crud`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import psycopg
from sqlalchemy.engine import Dialect, Engine

from emitter.crud import EMISSION, EVENT, EVENT_COLUMNS, AlreadyEmitted, EventRecord
from service_shell.pgasync import AsyncWriter

__all__ = ["PG_ROWS_PER_STATEMENT", "AsyncEventAppender", "record_arrival_async"]


# Rows per statement on PostgreSQL (eleven parameters each: far under its 65,535).
PG_ROWS_PER_STATEMENT = 256


def _casts(dialect: Dialect, table: Any, keys: Sequence[str]) -> list[str]:
    """Each column's type, as a parameter's cast: without a length (``'x'::VARCHAR(12)``
    would cut a longer value short; the column itself refuses it)."""
    return [re.sub(r"\(.*\)$", "", table.c[k].type.compile(dialect=dialect)) for k in keys]


@lru_cache(maxsize=64)
def _events_values_sql(dialect: Dialect, rows: int) -> str:
    """``VALUES`` of ``rows`` event rows with positional parameters, each cast to its column's
    type (a ``NULL`` then needs no guessing)."""
    one = "(" + ", ".join(f"%s::{cast}" for cast in _casts(dialect, EVENT, EVENT_COLUMNS)) + ")"
    return "VALUES " + ", ".join([one] * rows)


def _events_sql(dialect: Dialect, rows: int) -> str:
    """One ``INSERT`` of ``rows`` event rows (positional parameters, no ``RETURNING``)."""
    return f"INSERT INTO {EVENT.name} ({', '.join(EVENT_COLUMNS)}) {_events_values_sql(dialect, rows)}"


def _flat_params(events: Sequence[EventRecord]) -> list[Any]:
    """The parameters of :func:`_events_sql` for ``events``, row after row."""
    return [value for e in events for value in e.row().values()]


class AsyncEventAppender:
    """:class:`EventAppender` on PostgreSQL: each batch on a connection of its own, awaited
    (the loop serves other requests while the database commits).

    A batch is one multi-row ``INSERT``, a statement that is its own transaction: no
    ``BEGIN``/``COMMIT`` and one statement instead of one per row, which is a third of the
    client's work per batch of the per-row form. A batch longer than
    :data:`PG_ROWS_PER_STATEMENT` rows takes several statements in one transaction."""

    def __init__(self, engine: Engine) -> None:
        self.dialect = engine.dialect
        self.writer = AsyncWriter(engine.url.render_as_string(hide_password=False))

    async def append(self, events: Sequence[EventRecord]) -> None:
        """Append ``events`` in one committed transaction (raises, having written nothing,
        when the database refuses)."""
        if not events:
            return
        chunks = [events[i : i + PG_ROWS_PER_STATEMENT] for i in range(0, len(events), PG_ROWS_PER_STATEMENT)]
        dialect = self.dialect

        async def work(cursor: Any) -> None:
            for chunk in chunks:
                await cursor.execute(_events_sql(dialect, len(chunk)), _flat_params(chunk))

        await self.writer.run(work, transaction=len(chunks) > 1)

    async def close(self) -> None:
        await self.writer.close()


@lru_cache(maxsize=8)
def _emission_cte(dialect: Dialect) -> tuple[str, tuple[str, ...]]:
    """The emission row's ``INSERT`` as a data-modifying ``WITH`` (positional parameters),
    with its parameter order."""
    keys = tuple(EMISSION.c.keys())
    values = ", ".join(f"%s::{cast}" for cast in _casts(dialect, EMISSION, keys))
    return f"WITH emission AS (INSERT INTO {EMISSION.name} ({', '.join(keys)}) VALUES ({values}))", keys


async def record_arrival_async(
    writer: AsyncWriter,
    dialect: Dialect,
    *,
    arrival: EventRecord | None,
    emission: dict[str, Any],
    extra: Sequence[EventRecord] = (),
) -> None:
    """:func:`record_arrival` (or, without ``arrival``, :func:`record_emission`) on an
    :class:`AsyncWriter`: the emission and its events in one statement (its own
    transaction), awaited. When the slot has a block already, the unique key refuses the
    statement and nothing is written."""
    events = [arrival, *extra] if arrival is not None else list(extra)
    cte, keys = _emission_cte(dialect)
    params = [emission[k] for k in keys]
    if events:
        sql = f"{cte} {_events_sql(dialect, len(events))}"
        params += _flat_params(events)
    else:
        sql = f"{cte} SELECT 1"

    async def work(cursor: Any) -> None:
        await cursor.execute(sql, params)

    try:
        await writer.run(work, transaction=False)
    except psycopg.IntegrityError:
        raise AlreadyEmitted(f"slot {emission['slot']} already has its block") from None
