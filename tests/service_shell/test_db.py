"""SQLite plumbing: background WAL checkpoints keep commits from checkpointing themselves."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import text

from service_shell.db import BACKGROUND_AUTOCHECKPOINT_PAGES, WalCheckpointer, make_engine


def wal_frames(engine) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    """(frames in the log, frames checkpointed), from a no-op passive checkpoint."""
    with engine.connect() as conn:
        _, log, done = conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").one()
        return int(log), int(done)


def test_background_checkpoints_leave_commits_alone_until_the_checkpointer_runs(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'a.db'}", background_checkpoints=True)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == BACKGROUND_AUTOCHECKPOINT_PAGES
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (x BLOB)"))
    for _ in range(20):
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO t VALUES (:x)"), {"x": b"\0" * 100_000})
    WalCheckpointer(engine).checkpoint()
    log, done = wal_frames(engine)
    assert log > 0 and done == log  # everything in the log is in the database file
    default = make_engine(f"sqlite:///{tmp_path / 'b.db'}")
    with default.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 1000


@pytest.mark.anyio
async def test_the_checkpointer_runs_until_cancelled(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'a.db'}", background_checkpoints=True)
    checkpointer = WalCheckpointer(engine, interval_s=0.01)
    calls = 0
    original = checkpointer.checkpoint

    def counting() -> None:
        nonlocal calls
        calls += 1
        original()

    checkpointer.checkpoint = counting  # type: ignore[method-assign]
    task = asyncio.create_task(checkpointer.run())
    while calls < 3:
        await asyncio.sleep(0.01)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert task.cancelled()


def test_other_databases_are_not_checkpointed() -> None:
    engine = make_engine("postgresql://nobody@127.0.0.1:1/none")
    assert not WalCheckpointer(engine).enabled
