"""The event log as the DAC reads it (SQLite and PostgreSQL): the per-member tally computed in
the database is the one anyone computes from the public log (``bppool dac audit``), also when
a member's deliveries for one slot were logged by several instances of an emitter group."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete
from sqlalchemy.engine import Engine

from emitter import crud
from emitter.crud import EVENT, EventRecord
from emitter.eventlog import EventLogReader
from emitter.service import MIGRATIONS, VERSION_TABLE
from pool_protocol.outcomes import compute_delivery_tallies
from service_shell.db import make_engine, run_migrations

VERDICTS = ("selected", "valid", "late", "duplicate", "state_root_mismatch")
ARRIVALS = st.lists(
    st.tuples(st.sampled_from(("alice", "bob", "carol")), st.integers(0, 12), st.sampled_from(VERDICTS)),
    max_size=60,
)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    run_migrations(engine, MIGRATIONS, VERSION_TABLE)
    try:
        yield engine
    finally:
        engine.dispose()


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
