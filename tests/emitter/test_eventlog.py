"""The event log as the DAC reads it (SQLite and PostgreSQL): the per-member tally computed in
the database is the one anyone computes from the public log (``bppool dac audit``), also when
a member's deliveries for one slot were logged by several instances of an emitter group."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select
from sqlalchemy.engine import Engine

from emitter import crud, pgevents
from emitter.crud import EVENT, EventRecord
from emitter.eventlog import EventLogReader
from emitter.service import MIGRATIONS, VERSION_TABLE
from pool_protocol.outcomes import compute_delivery_tallies
from service_shell.db import make_engine, run_migrations
from service_shell.pgasync import AsyncWriter

VERDICTS = ("selected", "valid", "late", "duplicate", "state_root_mismatch")
ARRIVALS = st.lists(
    st.tuples(st.sampled_from(("alice", "bob", "carol")), st.integers(0, 12), st.sampled_from(VERDICTS)),
    max_size=60,
)


@contextmanager
def migrated(url: str) -> Iterator[Engine]:
    engine = make_engine(url)
    run_migrations(engine, MIGRATIONS, VERSION_TABLE)
    try:
        yield engine
    finally:
        engine.dispose()


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    with migrated(database_url) as engine:
        yield engine


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(arrivals=ARRIVALS, slot_ends=st.tuples(st.integers(0, 6), st.integers(6, 14)))
def test_the_databases_tally_is_the_audits(
    engine: Engine, arrivals: list[tuple[str, int, str]], slot_ends: tuple[int, int]
) -> None:
    with engine.begin() as conn:
        conn.execute(delete(EVENT))
    events = [
        EventRecord(kind="arrival", ts_ms=i, slot=slot, member=member, verdict=verdict)
        for i, (member, slot, verdict) in enumerate(arrivals)
    ]
    events += [
        EventRecord(kind="slot", ts_ms=0, slot=s, verdict="emitted") for _, s, _ in arrivals
    ]  # dupes too
    crud.append_events(engine, events=events)
    start, end = slot_ends
    pool_slots, metrics = EventLogReader(engine).member_metrics(start, end)
    in_range = [{"member": m, "slot": s, "verdict": v} for m, s, v in arrivals if start <= s < end]
    expected = {m: asdict(t) for m, t in compute_delivery_tallies(in_range).items()}
    assert metrics == expected
    assert pool_slots == len({s for _, s, _ in arrivals if start <= s < end})
    assert EventLogReader(engine).pool_slot_numbers(start, end) == sorted(
        {s for _, s, _ in arrivals if start <= s < end}
    )


# --- the PostgreSQL writers: one statement per batch -----------------------------------------


@pytest.fixture
def pg_engine(postgres_url: str) -> Iterator[Engine]:
    with migrated(postgres_url) as engine:
        yield engine


def _logged(engine: Engine) -> list[tuple[object, ...]]:
    with engine.connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(select(*(EVENT.c[k] for k in crud.EVENT_COLUMNS)).order_by(EVENT.c.id))
        ]


def _row(event: EventRecord) -> tuple[object, ...]:
    row = event.row()
    return tuple(row[k] for k in crud.EVENT_COLUMNS)


@pytest.mark.anyio
async def test_a_batch_is_written_whole_in_order_also_past_one_statement(pg_engine: Engine) -> None:
    appender = pgevents.AsyncEventAppender(pg_engine)
    events = [
        EventRecord(
            kind="arrival",
            ts_ms=i,
            slot=i // 3,
            member=f"m{i % 7}",
            verdict="valid",
            fees=i,
            data={"n": i} if i % 5 == 0 else None,
        )
        for i in range(pgevents.PG_ROWS_PER_STATEMENT * 2 + 3)
    ]
    try:
        await appender.append(events[:1])
        await appender.append(events[1:])
    finally:
        await appender.close()
    assert _logged(pg_engine) == [_row(e) for e in events]


@pytest.mark.anyio
async def test_a_refused_row_writes_nothing_of_its_batch_and_is_not_cut_short(pg_engine: Engine) -> None:
    appender = pgevents.AsyncEventAppender(pg_engine)
    good = EventRecord(kind="arrival", ts_ms=1, slot=1, member="alice", verdict="valid")
    too_long = EventRecord(kind="arrival", ts_ms=2, slot=1, member="a" * 13, verdict="valid")
    try:
        with pytest.raises(Exception, match="too long"):
            await appender.append([good, too_long])
        many = [good] * pgevents.PG_ROWS_PER_STATEMENT + [too_long]  # two statements, one transaction
        with pytest.raises(Exception, match="too long"):
            await appender.append(many)
        await appender.append([good])  # the lane still writes
    finally:
        await appender.close()
    assert _logged(pg_engine) == [_row(good)]


@pytest.mark.anyio
async def test_an_emission_and_its_events_are_one_statement_refused_whole_on_a_taken_slot(
    pg_engine: Engine,
) -> None:
    writer = AsyncWriter(pg_engine.url.render_as_string(hide_password=False))
    emission = {
        "slot": 7,
        "block_id": "ab" * 32,
        "height": 3,
        "builder": "alice",
        "source": "member",
        "emitted_ms": 1,
        "fees": 5,
        "data": b"\x00block\xff",
        "accepted_by": None,
    }
    arrival = EventRecord(kind="arrival", ts_ms=1, slot=7, member="alice", verdict="selected")
    other = EventRecord(kind="arrival", ts_ms=2, slot=7, member="bob", verdict="valid")
    try:
        await pgevents.record_arrival_async(
            writer, pg_engine.dialect, arrival=arrival, emission=emission, extra=[other]
        )
        with pytest.raises(crud.AlreadyEmitted):
            await pgevents.record_arrival_async(
                writer, pg_engine.dialect, arrival=other, emission={**emission, "block_id": "cd" * 32}
            )
        with pytest.raises(crud.AlreadyEmitted):  # a fallback's form: no arrival
            await pgevents.record_arrival_async(writer, pg_engine.dialect, arrival=None, emission=emission)
        await pgevents.record_arrival_async(
            writer, pg_engine.dialect, arrival=None, emission={**emission, "slot": 8}
        )
    finally:
        await writer.close()
    assert _logged(pg_engine) == [_row(arrival), _row(other)]
    stored = crud.get_emission(pg_engine, slot=7)
    assert (
        stored is not None and stored["block_id"] == "ab" * 32 and bytes(stored["data"]) == b"\x00block\xff"
    )
    assert crud.get_emission(pg_engine, slot=8) is not None
