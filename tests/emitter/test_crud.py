"""Emitter storage on SQLite and PostgreSQL: the event log, the unique emission, statistics."""

from __future__ import annotations

import pytest

from emitter import crud
from emitter.crud import AlreadyEmitted, EventRecord
from emitter.service import MIGRATIONS, VERSION_TABLE
from service_shell.db import make_engine, run_migrations


@pytest.fixture
def engine(database_url: str):
    engine = make_engine(database_url)
    run_migrations(engine, MIGRATIONS, VERSION_TABLE)
    run_migrations(engine, MIGRATIONS, VERSION_TABLE)  # idempotent
    yield engine
    engine.dispose()


def emission(slot: int, block_id: str = "aa" * 32) -> dict:
    return {
        "slot": slot,
        "block_id": block_id,
        "height": slot,
        "builder": "alice",
        "source": "member",
        "emitted_ms": 1,
        "fees": 3,
        "data": b'{"x": 1}',
        "accepted_by": None,
    }


def arrival(slot: int, member: str, verdict: str, offset: int = 10) -> EventRecord:
    return EventRecord(
        kind="arrival",
        ts_ms=1_000 + slot,
        slot=slot,
        member=member,
        block_id="bb" * 32,
        offset_ms=offset,
        verdict=verdict,
        fees=1,
        tx_count=2,
    )


def test_one_emission_per_slot_and_nothing_half_written(engine) -> None:
    crud.record_arrival(engine, arrival=arrival(1, "alice", "selected"), emission=emission(1))
    with pytest.raises(AlreadyEmitted):
        crud.record_arrival(engine, arrival=arrival(1, "bob", "selected"), emission=emission(1, "cc" * 32))
    assert crud.get_emission(engine, slot=1)["block_id"] == "aa" * 32
    # the refused arrival was not logged either (one transaction)
    assert [e["member"] for e in crud.list_events(engine, kind="arrival")] == ["alice"]
    with pytest.raises(AlreadyEmitted):
        crud.record_emission(engine, emission=emission(1, "dd" * 32), events=[])
    crud.mark_accepted(engine, slot=1, node_url="http://n")
    assert crud.get_emission(engine, slot=1)["accepted_by"] == "http://n"


def test_a_slot_closes_with_its_outcome_and_the_node_that_took_its_block(engine) -> None:
    crud.record_arrival(engine, arrival=arrival(2, "alice", "selected"), emission=emission(2))
    outcome = EventRecord(kind="slot", ts_ms=5, slot=2, member="alice", verdict="emitted", data={"valid": 1})
    crud.close_slot(engine, outcome=outcome, accepted_by="http://node-b")
    assert crud.get_emission(engine, slot=2)["accepted_by"] == "http://node-b"
    [logged] = crud.list_events(engine, kind="slot")
    assert (logged["slot"], logged["verdict"], logged["data"]) == (2, "emitted", {"valid": 1})
    # a missed slot has no block: only the outcome
    crud.close_slot(
        engine, outcome=EventRecord(kind="slot", ts_ms=6, slot=3, verdict="missed"), accepted_by=None
    )
    assert [e["verdict"] for e in crud.list_events(engine, kind="slot")] == ["emitted", "missed"]


def test_event_log_is_ordered_and_paginated(engine) -> None:
    crud.append_events(engine, events=[arrival(s, m, "valid") for s in range(1, 6) for m in ("alice", "bob")])
    page = crud.list_events(engine, after_id=0, limit=4)
    assert [e["id"] for e in page] == sorted(e["id"] for e in page) and len(page) == 4
    rest = crud.list_events(engine, after_id=page[-1]["id"], limit=100)
    assert len(rest) == 6 and rest[0]["id"] > page[-1]["id"]
    assert crud.last_event_id(engine) == rest[-1]["id"]
    assert len(crud.list_events(engine, member="bob")) == 5
    assert len(crud.list_events(engine, slot=3)) == 2


def test_member_statistics(engine) -> None:
    crud.append_events(
        engine,
        events=[
            arrival(1, "alice", "selected", 5),
            arrival(1, "bob", "valid", 15),
            arrival(2, "bob", "selected", 25),
            arrival(2, "alice", "late", 450),
            arrival(3, "alice", "equivocation"),
        ],
    )
    stats = crud.member_stats(engine)
    assert stats["alice"] == {
        "deliveries": 3,
        "valid": 1,
        "wins": 1,
        "rejections": {"late": 1, "equivocation": 1},
        "mean_valid_offset_ms": 5.0,
    }
    assert (
        stats["bob"]["valid"] == 2
        and stats["bob"]["wins"] == 1
        and stats["bob"]["mean_valid_offset_ms"] == 20.0
    )


def test_members_and_evidence(engine) -> None:
    row = {
        "account": "alice",
        "public_key": "ab" * 32,
        "endpoint": "e",
        "status": "applied",
        "constitution_hash": "cd" * 32,
        "application_signature": "ef" * 64,
        "applied_ms": 1,
        "updated_ms": 1,
    }
    crud.save_application(
        engine, row=row, event=EventRecord(kind="member", ts_ms=1, member="alice", verdict="applied")
    )
    assert crud.set_member_status(
        engine,
        account="alice",
        status="active",
        now_ms=2,
        event=EventRecord(kind="member", ts_ms=2, member="alice", verdict="active"),
    )
    assert (
        crud.set_member_status(
            engine, account="nobody", status="active", now_ms=2, event=EventRecord(kind="member", ts_ms=2)
        )
        is None
    )
    assert [m["status"] for m in crud.list_members(engine)] == ["active"]
    crud.record_evidence(
        engine, items=[{"slot": 4, "member": "alice", "block_id": "11" * 32, "ts_ms": 3, "data": b"{}"}]
    )
    assert crud.list_evidence(engine, slot=4)[0]["member"] == "alice"


def test_the_appender_writes_batches_on_its_own_connection_and_recovers_from_a_refusal(engine) -> None:
    appender = crud.EventAppender(engine)
    try:
        appender.append([arrival(1, "alice", "valid"), arrival(1, "bob", "valid")])
        with pytest.raises(Exception):  # noqa: B017  (the driver's own error type)
            appender.append([arrival(2, "carol", "valid"), EventRecord(kind=None, ts_ms=1)])  # type: ignore[arg-type]
        appender.append([arrival(3, "dave", "valid")])
    finally:
        appender.close()
    # the refused batch left nothing behind; the batches around it are complete
    assert [(e["slot"], e["member"]) for e in crud.list_events(engine)] == [
        (1, "alice"),
        (1, "bob"),
        (3, "dave"),
    ]
