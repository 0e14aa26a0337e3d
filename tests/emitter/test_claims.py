"""The signing guard in the database (SQLite and PostgreSQL): one claim per (producer, slot),
a watermark that only rises, the operator's ceiling, the lease and heartbeat fences, and on
PostgreSQL many instances racing for the same slots."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from emitter import groupstore, leasestore
from emitter.groupstore import ABOVE_CEILING, BELOW_WATERMARK, CLAIMED, FENCED, WON, ClaimRequest
from emitter.service import MIGRATIONS, VERSION_TABLE
from service_shell.db import make_engine, run_migrations


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    run_migrations(engine, MIGRATIONS, VERSION_TABLE)
    groupstore.ensure_signer(engine, producer="pool")
    leasestore.ensure_lease(engine)
    try:
        yield engine
    finally:
        engine.dispose()


def request(slot: int, digest: str = "aa" * 32, **changes: object) -> ClaimRequest:
    fields: dict[str, object] = {
        "producer": "pool",
        "slot": slot,
        "digest": digest,
        "block_id": digest[::-1],
        "source": "member",
        "builder": "alice",
        "instance": "a",
        "epoch": 0,
        "fenced": False,
        "alive_within_ms": None,
    }
    fields.update(changes)
    return ClaimRequest(**fields)  # type: ignore[arg-type]


def test_a_slot_is_claimed_once_and_a_second_claim_gets_the_first(engine: Engine) -> None:
    outcome, row = groupstore.claim(engine, request(5))
    assert outcome == WON and row is not None and row["slot"] == 5
    # Another instance, another digest: refused, and told what was claimed.
    outcome, row = groupstore.claim(engine, request(5, "bb" * 32, instance="b"))
    assert outcome == CLAIMED and row is not None
    assert (row["instance"], row["digest"]) == ("a", "aa" * 32)
    # The same digest again: refused as well (the stored claim stands, nothing is re-signed).
    outcome, row = groupstore.claim(engine, request(5))
    assert outcome == CLAIMED and row is not None and row["instance"] == "a"
    assert [c["slot"] for c in groupstore.list_claims(engine, producer="pool")] == [5]


def test_nothing_at_or_below_the_watermark_is_claimed(engine: Engine) -> None:
    assert groupstore.claim(engine, request(10))[0] == WON
    assert groupstore.claim(engine, request(9, "cc" * 32))[0] == BELOW_WATERMARK
    assert groupstore.claim(engine, request(11))[0] == WON
    assert groupstore.get_signer(engine, producer="pool")["watermark"] == 11  # type: ignore[index]


def test_the_watermark_from_the_chain_only_rises(engine: Engine) -> None:
    assert groupstore.raise_watermark(engine, producer="pool", slot=20, chain=True)
    assert not groupstore.raise_watermark(engine, producer="pool", slot=7, chain=True)
    signer = groupstore.get_signer(engine, producer="pool")
    assert signer is not None and signer["watermark"] == 20 and signer["chain_slot"] == 20
    assert groupstore.claim(engine, request(20))[0] == BELOW_WATERMARK
    assert groupstore.claim(engine, request(21))[0] == WON


def test_the_watermark_stands_above_emissions_recorded_before_the_claims(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO pool_emission (slot, block_id, height, builder, source, emitted_ms, fees, data)"
                " VALUES (33, :id, 3, 'alice', 'member', 0, 0, :data)"
            ),
            {"id": "ab" * 32, "data": b"{}"},
        )
    groupstore.ensure_signer(engine, producer="pool")
    assert groupstore.claim(engine, request(33))[0] == BELOW_WATERMARK


def test_the_ceiling_freezes_signing_above_it(engine: Engine) -> None:
    groupstore.set_ceiling(engine, producer="pool", ceiling=5)
    assert groupstore.claim(engine, request(6))[0] == ABOVE_CEILING
    assert groupstore.claim(engine, request(5))[0] == WON
    groupstore.set_ceiling(engine, producer="pool", ceiling=None)
    assert groupstore.claim(engine, request(6))[0] == WON


def test_the_unique_key_holds_when_the_watermark_was_lowered_by_hand(engine: Engine) -> None:
    """web3signer's worst incident came from dropping the unique constraint: the watermark is
    not the only line."""
    assert groupstore.claim(engine, request(8))[0] == WON
    with engine.begin() as conn:
        conn.execute(text("UPDATE pool_signer SET watermark = 0"))
    outcome, row = groupstore.claim(engine, request(8, "dd" * 32, instance="b"))
    assert outcome == CLAIMED and row is not None and row["digest"] == "aa" * 32
    # Refused as a whole: the watermark was not raised by the refused claim either.
    assert groupstore.get_signer(engine, producer="pool")["watermark"] == 0  # type: ignore[index]


def test_a_fenced_claim_needs_the_lease_at_its_epoch(engine: Engine) -> None:
    fallback = {"fenced": True, "source": "fallback_local", "builder": None}
    assert groupstore.claim(engine, request(1, epoch=1, **fallback))[0] == FENCED
    view = leasestore.lease_round(
        engine, instance="a", url="http://a", pid=1, started_ms=0, epoch=0, ttl_ms=60_000, seen_within_ms=1
    )
    assert view.holder == "a" and view.epoch == 1
    assert groupstore.claim(engine, request(2, epoch=0, **fallback))[0] == FENCED  # stale epoch
    assert groupstore.claim(engine, request(3, instance="b", epoch=1, **fallback))[0] == FENCED
    assert groupstore.claim(engine, request(4, epoch=1, **fallback))[0] == WON
    # Expired on the database's clock: no longer.
    with engine.begin() as conn:
        conn.execute(text("UPDATE pool_lease SET expires_ms = 0"))
    assert groupstore.claim(engine, request(5, epoch=1, **fallback))[0] == FENCED


def test_a_group_instance_claims_only_while_its_heartbeat_is_recent(engine: Engine) -> None:
    assert groupstore.claim(engine, request(1, alive_within_ms=1500))[0] == FENCED  # never seen
    leasestore.lease_round(
        engine, instance="a", url="http://a", pid=1, started_ms=0, epoch=0, ttl_ms=1500, seen_within_ms=1
    )
    assert groupstore.claim(engine, request(2, alive_within_ms=1500))[0] == WON
    with engine.begin() as conn:  # its rounds stopped (paused) long ago
        conn.execute(text("UPDATE pool_instance SET seen_ms = seen_ms - 5000"))
    assert groupstore.claim(engine, request(3, alive_within_ms=1500))[0] == FENCED


def test_the_lease_passes_on_with_a_new_epoch_only_once_it_lapsed(engine: Engine) -> None:
    def round_of(name: str, epoch: int, ttl: int = 60_000) -> leasestore.LeaseView:
        return leasestore.lease_round(
            engine, instance=name, url=f"http://{name}", pid=1, started_ms=0, epoch=epoch, ttl_ms=ttl,
            seen_within_ms=10_000,
        )  # fmt: skip

    assert round_of("a", 0).epoch == 1
    assert round_of("b", 0).holder == "a"  # held: b waits
    assert round_of("a", 1).epoch == 1  # renewed at the same epoch
    # a started again under the same name holds no epoch yet: it does not renew the old one
    assert round_of("a", 0).epoch == 1 and round_of("b", 0).holder == "a"
    with engine.begin() as conn:
        conn.execute(text("UPDATE pool_lease SET expires_ms = 0"))
    taken = round_of("b", 0)
    assert (taken.holder, taken.epoch) == ("b", 2)
    assert round_of("a", 1).holder == "b"  # the old holder's epoch is gone
    assert leasestore.release_lease(engine, instance="b", epoch=2)
    assert round_of("a", 0).epoch == 3


def test_many_instances_racing_for_the_same_slots_get_one_claim_each(postgres_url: str) -> None:
    """Eight threads (eight instances), each with a connection pool of its own, claim each of
    slots 1 to 150 at the same moment (a barrier per slot), each with its own digest: every
    slot gets exactly one claim, and the thread that won a slot holds its stored claim."""
    engines = [make_engine(postgres_url) for _ in range(8)]
    run_migrations(engines[0], MIGRATIONS, VERSION_TABLE)
    groupstore.ensure_signer(engines[0], producer="pool")
    won: dict[int, list[int]] = {i: [] for i in range(len(engines))}
    start = threading.Barrier(len(engines))

    def race(i: int) -> None:
        for slot in range(1, 151):
            start.wait()
            outcome, _ = groupstore.claim(engines[i], request(slot, f"{i:02x}" * 32, instance=f"i{i}"))
            if outcome == WON:
                won[i].append(slot)

    threads = [threading.Thread(target=race, args=(i,)) for i in range(len(engines))]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert time.monotonic() - started < 120
    try:
        claims = {c["slot"]: c for c in groupstore.list_claims(engines[0], producer="pool")}
        winners = [slot for slots in won.values() for slot in slots]
        assert sorted(winners) == sorted(set(winners)), "a slot was won twice"
        assert set(claims) == set(range(1, 151)) and set(winners) == set(claims)
        for i, slots in won.items():
            for slot in slots:
                assert claims[slot]["instance"] == f"i{i}" and claims[slot]["digest"] == f"{i:02x}" * 32
        assert len({c["instance"] for c in claims.values()}) > 1, "no race happened"
    finally:
        for e in engines:
            e.dispose()


def test_the_migration_is_safe_for_instances_starting_at_once(postgres_url: str) -> None:
    engines = [make_engine(postgres_url) for _ in range(4)]
    errors: list[BaseException] = []

    def migrate(engine: Engine) -> None:
        try:
            run_migrations(engine, MIGRATIONS, VERSION_TABLE)
        except BaseException as exc:  # collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=migrate, args=(e,)) for e in engines]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for e in engines:
        e.dispose()
    assert not errors, errors


@pytest.mark.anyio
async def test_the_awaited_claim_on_postgresql_decides_as_the_blocking_one(postgres_url: str) -> None:
    """The pool service's claim on PostgreSQL is one statement awaited on a connection of its
    own (``claim_async``): the same answers as :func:`groupstore.claim`, case by case."""
    from service_shell.pgasync import AsyncWriter

    engine = make_engine(postgres_url)
    run_migrations(engine, MIGRATIONS, VERSION_TABLE)
    groupstore.ensure_signer(engine, producer="pool")
    leasestore.ensure_lease(engine)
    writer = AsyncWriter(postgres_url)
    try:

        async def claim(req: ClaimRequest) -> tuple[str, dict[str, object] | None]:
            return await groupstore.claim_async(writer, engine.dialect, req)

        outcome, row = await claim(request(5))
        assert (
            outcome == WON and row is not None and row["instance"] == "a" and int(str(row["claimed_ms"])) > 0
        )
        outcome, row = await claim(request(5, "bb" * 32, instance="b"))
        assert outcome == CLAIMED and row is not None and row["digest"] == "aa" * 32
        assert (await claim(request(4, "cc" * 32)))[0] == BELOW_WATERMARK
        groupstore.set_ceiling(engine, producer="pool", ceiling=6)
        assert (await claim(request(7)))[0] == ABOVE_CEILING
        groupstore.set_ceiling(engine, producer="pool", ceiling=None)
        fallback = {"fenced": True, "source": "fallback_local", "builder": None}
        assert (await claim(request(7, epoch=3, **fallback)))[0] == FENCED
        assert (await claim(request(8, alive_within_ms=1500)))[0] == FENCED  # never seen alive
        with engine.begin() as conn:  # the unique key behind a watermark lowered by hand
            conn.execute(text("UPDATE pool_signer SET watermark = 0"))
        outcome, row = await claim(request(5, "dd" * 32, instance="c"))
        assert outcome == CLAIMED and row is not None and row["instance"] == "a"
        assert (await claim(request(9)))[0] == WON  # the connection still works after the refusal
        assert [c["slot"] for c in groupstore.list_claims(engine, producer="pool")] == [5, 9]
    finally:
        await writer.close()
        engine.dispose()
