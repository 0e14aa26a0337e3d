"""Benchmark: closing a DAC epoch over a large event log, on SQLite and PostgreSQL.

For 100k and 1M logged arrivals in the epoch (plus a tenth of that in the epoch before, so the
slot range is selective) and for 100 and 1,000 members: the close the DAC service runs once an
epoch's blocks are irreversible, timed from the event-log aggregation to the committed
statement: per-member metrics (one grouped query), the split, the statement rows and their
Merkle root, the pool's signature, one signed payout per member, and the single database
transaction storing all of it. Reading the earnings from the chain is not included (it
depends on the epoch length in slots, not on the log or the members).

Prints the median close time per case, the ratio to the target (2 s for 1,000 members x 1M
arrivals) and the growth ratio 1M/100k (linear growth is 10x).

Usage: ./dev bench dac_split [--rounds 3] [--backends sqlite,postgresql] [--sizes 100000,1000000]
"""

from __future__ import annotations

import argparse
import hashlib
import io
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

# Run as a script: the repository root, not this folder, comes first on the path.
sys.path[0] = str(Path(__file__).resolve().parents[1])

from sqlalchemy import delete  # noqa: E402
from sqlalchemy.engine import Engine  # noqa: E402

from bench._common import name_for  # noqa: E402
from chain.core import PrivateKey  # noqa: E402
from emitter.eventlog import EventLogReader  # noqa: E402
from emitter.service import MIGRATIONS as EMITTER_MIGRATIONS  # noqa: E402
from emitter.service import VERSION_TABLE as EMITTER_VERSION_TABLE  # noqa: E402
from pool_dac.core.params import Parameters  # noqa: E402
from pool_dac.crud import EPOCH, ROW, TRANSFER  # noqa: E402
from pool_dac.epochs import settle_epoch, store_epoch  # noqa: E402
from pool_dac.payouts import payout_rows  # noqa: E402
from pool_dac.service import MIGRATIONS as DAC_MIGRATIONS  # noqa: E402
from pool_dac.service import VERSION_TABLE as DAC_VERSION_TABLE  # noqa: E402
from service_shell.db import make_engine, run_migrations  # noqa: E402

TARGET_S = 2.0
EPOCH_SLOTS = 7_200  # one hour of 0.5 s slots
POOL_SHARE = 3  # the pool holds one slot in three
CHAIN_ID = "00" * 32
POOL_KEY = PrivateKey(hashlib.sha256(b"bench-dac/pool").digest())
VERDICTS = (
    ["valid"] * 80 + ["late"] * 8 + ["state_root_mismatch"] * 4 + ["equivocation"] + ["parent_mismatch"] * 7
)
COLUMNS = (
    "ts_ms",
    "kind",
    "slot",
    "member",
    "block_id",
    "offset_ms",
    "verdict",
    "reason",
    "fees",
    "tx_count",
    "data",
)


def events(members: list[str], arrivals: int, start: int, rng: random.Random) -> list[tuple[Any, ...]]:
    """The event rows of one epoch: a ``slot`` event per pool slot and ``arrivals`` arrivals
    spread over them, one of each slot's arrivals ``selected``."""
    pool_slots = [s for s in range(start, start + EPOCH_SLOTS) if s % POOL_SHARE == 0]
    per_slot, extra = divmod(arrivals, len(pool_slots))
    rows: list[tuple[Any, ...]] = []
    for i, slot in enumerate(pool_slots):
        ts = slot * 500
        rows.append((ts, "slot", slot, None, None, None, "emitted", None, None, None, None))
        count = per_slot + (1 if i < extra else 0)
        for j in range(count):
            verdict = "selected" if j == 0 else rng.choice(VERDICTS)
            member = rng.choice(members)
            rows.append(
                (ts + j, "arrival", slot, member, None, rng.randint(5, 300), verdict, None, None, None, None)
            )
    return rows


def fill(engine: Engine, rows: list[tuple[Any, ...]]) -> None:
    """Bulk-load event rows (COPY on PostgreSQL, one executemany on SQLite)."""
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        if engine.dialect.name == "postgresql":
            buffer = io.StringIO()
            for row in rows:
                buffer.write("\t".join("\\N" if v is None else str(v) for v in row) + "\n")
            buffer.seek(0)
            with cursor.copy(f"COPY pool_event ({', '.join(COLUMNS)}) FROM STDIN") as copy:  # type: ignore[attr-defined]
                while chunk := buffer.read(1 << 20):
                    copy.write(chunk)
        else:
            marks = ", ".join("?" for _ in COLUMNS)
            cursor.executemany(f"INSERT INTO pool_event ({', '.join(COLUMNS)}) VALUES ({marks})", rows)
        raw.commit()
        if engine.dialect.name == "postgresql":
            cursor.execute("ANALYZE pool_event")
        else:
            cursor.execute("ANALYZE")
        raw.commit()
    finally:
        raw.close()


def close_once(engine: Engine, members: list[str], epoch: int, start: int) -> dict[str, float]:
    """One epoch close as the DAC service does it; the time of each step in seconds."""
    times: dict[str, float] = {}
    t0 = time.perf_counter()
    settled = settle_epoch(
        epoch=epoch,
        start=start,
        end=start + EPOCH_SLOTS,
        earnings=123_456_789_0000,
        params=Parameters(reward_policy="hybrid", min_participation_bps=100),
        event_log=EventLogReader(engine),
        members=members,
        penalties={},
        chain_id=CHAIN_ID,
        pool="pool",
        pool_key=POOL_KEY,
    )
    t1 = time.perf_counter()
    transfers = payout_rows(
        settled.rows,
        epoch=epoch,
        first_nonce=epoch * 10_000,
        chain_id=CHAIN_ID,
        pool="pool",
        pool_key=POOL_KEY,
        fee=1,
        expiration_ms=1 << 40,
        now_ms=0,
    )
    t2 = time.perf_counter()
    store_epoch(engine, settled, transfers, closed_ms=0)
    t3 = time.perf_counter()
    if settled.header["pool_slots"] != EPOCH_SLOTS // POOL_SHARE or len(settled.rows) != len(members):
        raise SystemExit(f"wrong statement: {settled.header}")
    times.update(total=t3 - t0, settle=t1 - t0, payouts=t2 - t1, store=t3 - t2)
    return times


def reset(engine: Engine) -> None:
    with engine.begin() as conn:
        for table in (TRANSFER, ROW, EPOCH):
            conn.execute(delete(table))


def postgres_database(admin_url: str) -> tuple[str, Any] | None:
    import psycopg

    try:
        admin = psycopg.connect(admin_url, autocommit=True, connect_timeout=3)
    except Exception as exc:  # psycopg.OperationalError and friends
        print(f"postgresql: skipped, not reachable at {admin_url}: {exc}")
        return None
    name = f"bppool_bench_{uuid.uuid4().hex[:10]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    return admin_url.rsplit("/", 1)[0] + "/" + name, (admin, name)


def drop_postgres(handle: Any) -> None:
    admin, name = handle
    admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
    admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
    admin.close()


def run_backend(
    backend: str, url: str, sizes: list[int], member_counts: list[int], rounds: int
) -> dict[Any, float]:
    results: dict[Any, float] = {}
    rng = random.Random(7)
    for arrivals in sizes:
        engine = make_engine(url if backend == "postgresql" else f"{url}-{arrivals}.db")
        try:
            run_migrations(engine, EMITTER_MIGRATIONS, EMITTER_VERSION_TABLE)
            run_migrations(engine, DAC_MIGRATIONS, DAC_VERSION_TABLE)
            with engine.begin() as conn:
                conn.exec_driver_sql("DELETE FROM pool_event")
            everyone = [name_for(i, "m") for i in range(max(member_counts))]
            started = time.perf_counter()
            rows = events(everyone, arrivals // 10, 0, rng) + events(everyone, arrivals, EPOCH_SLOTS, rng)
            fill(engine, rows)
            del rows
            print(
                f"{backend}: logged {arrivals * 11 // 10:,} arrivals in {time.perf_counter() - started:.1f} s"
            )
            for count in member_counts:
                members = everyone[:count]
                samples = []
                for r in range(rounds):
                    samples.append(close_once(engine, members, r + 1, EPOCH_SLOTS))
                reset(engine)
                median = statistics.median(s["total"] for s in samples)
                parts = {k: statistics.median(s[k] for s in samples) for k in ("settle", "payouts", "store")}
                results[(count, arrivals)] = median
                print(
                    f"{backend:<10} {count:>5} members x {arrivals:>9,} arrivals: "
                    f"close {median * 1000:8.1f} ms "
                    f"(metrics+split+statement {parts['settle'] * 1000:.1f}, payouts signed "
                    f"{parts['payouts'] * 1000:.1f}, stored {parts['store'] * 1000:.1f})"
                )
        finally:
            engine.dispose()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--sizes", default="100000,1000000", help="arrivals in the epoch")
    parser.add_argument("--members", default="100,1000")
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    member_counts = [int(m) for m in args.members.split(",")]
    summary: dict[str, dict[Any, float]] = {}
    with tempfile.TemporaryDirectory(prefix="bppool-bench-dac-") as tmp:
        for backend in args.backends.split(","):
            if backend == "sqlite":
                summary[backend] = run_backend(
                    backend, f"sqlite:///{tmp}/events", sizes, member_counts, args.rounds
                )
            elif backend == "postgresql":
                found = postgres_database(args.postgres)
                if found is None:
                    continue
                url, handle = found
                try:
                    summary[backend] = run_backend(backend, url, sizes, member_counts, args.rounds)
                finally:
                    drop_postgres(handle)
            else:
                raise SystemExit(f"unknown backend {backend!r}: sqlite or postgresql")
    print()
    small, large = min(sizes), max(sizes)
    top = max(member_counts)
    for backend, results in summary.items():
        worst = results.get((top, large))
        if worst is None:
            continue
        growth = worst / results[(top, small)] if small != large else 1.0
        print(
            f"{backend}: {top} members x {large:,} arrivals closes in {worst:.3f} s = {worst / TARGET_S:.2f} "
            f"of the {TARGET_S:.0f} s target ({'met' if worst <= TARGET_S else 'NOT met'}); "
            f"growth {large // small}x arrivals -> {growth:.2f}x time"
        )


if __name__ == "__main__":
    main()
