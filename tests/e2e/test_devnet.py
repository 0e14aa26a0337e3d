"""``bppool devnet`` end to end: real processes, a member killed mid-run, a clean stop."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
from pathlib import Path

import pytest

from tests.helpers.procs import BPPOOL

pytestmark = pytest.mark.e2e

SLOTS, KILL_AT = 60, 30


def processes_mentioning(text: str) -> list[str]:
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\x00", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline:
            found.append(f"{proc.name}: {cmdline}")
    return found


def test_devnet_fills_every_pool_slot_and_stops_cleanly(tmp_path: Path) -> None:
    data = tmp_path / "devnet"
    result = subprocess.run(
        [
            *BPPOOL,
            "devnet",
            "--slots",
            str(SLOTS),
            "--members",
            "4",
            "--kill-member-at",
            str(KILL_AT),
            "--data-dir",
            str(data),
        ],
        capture_output=True,
        text=True,
        timeout=400,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert "pool slots" in result.stdout

    summary = json.loads((data / "summary.json").read_text())
    slots = summary["pool_slots"]
    assert len(slots) >= SLOTS
    numbers = [s["slot"] for s in slots]
    assert len(numbers) == len(set(numbers))

    # Every pool slot between the first and the last ran by the emitter has an outcome
    # (the schedule is pool, soloa, solob: the pool owns slots 0-11 of every 36).
    owned = [n for n in range(numbers[0], numbers[-1] + 1) if n % 36 < 12]
    assert numbers == owned

    # Exactly one canonical block per emitted slot, by the pool; none for a recorded miss.
    db = sqlite3.connect(data / "node" / "chain.db")
    rows = db.execute("SELECT slot, id, producer FROM node_block WHERE canonical = 1").fetchall()
    by_slot: dict[int, list[tuple[str, str]]] = {}
    for slot, block_id, producer in rows:
        by_slot.setdefault(slot, []).append((block_id, producer))
    for s in slots:
        blocks = by_slot.get(s["slot"], [])
        if s["outcome"] == "missed":
            assert blocks == [], s
        else:
            assert blocks == [(s["block_id"], "pool")], s

    # Several members built pool blocks, and the pool kept filling after one was killed.
    winners = {s["winner"] for s in slots if s["outcome"] == "emitted"}
    assert len(winners) >= 3, winners
    killed = summary["killed"]
    assert killed == "member1"
    # After the slot in progress when its process was gone, the killed member wins nothing.
    assert summary["killed_at_slot"] >= numbers[KILL_AT - 1]
    later = [s for s in slots if s["slot"] > summary["killed_at_slot"]]
    assert later and all(s["outcome"] in ("emitted", "fallback") for s in later)
    assert killed not in {s["winner"] for s in later}

    # Every process is gone.
    assert processes_mentioning(str(data)) == []


def test_the_chain_starts_when_the_members_are_on_the_slot_feed(tmp_path: Path) -> None:
    """A default run has no fallback in its first pool round: the genesis comes once every
    member is connected, so a fallback in a devnet means a member failed."""
    data = tmp_path / "devnet"
    result = subprocess.run(
        [*BPPOOL, "devnet", "--slots", "11", "--members", "3", "--data-dir", str(data)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    summary = json.loads((data / "summary.json").read_text())
    # The pool's first round: slots 1-11 (slot 0 is the genesis).
    first_round = [s for s in summary["pool_slots"] if s["slot"] < 12]
    assert [s["slot"] for s in first_round] == list(range(1, 12))
    assert [s["outcome"] for s in first_round] == ["emitted"] * 11, first_round
    # Each start-up step said what it was doing, and how long it took.
    assert "waiting for the members to connect to the slot feed" in summary["startup_s"]
    assert "✓ waiting for the members to connect to the slot feed" in result.stdout


def test_devnet_runs_an_emitter_group_through_a_killed_leader(tmp_path: Path, postgres_server: str) -> None:
    """``--emitters 3`` on a PostgreSQL server (the devnet makes its own database and drops it);
    ``--kill-emitter-at`` kills the leader with SIGKILL, and the group goes on filling slots."""
    import psycopg

    data = tmp_path / "devnet"
    result = subprocess.run(
        [
            *BPPOOL,
            "devnet",
            "--slots",
            "24",
            "--members",
            "3",
            "--emitters",
            "3",
            "--database-url",
            postgres_server,
            "--kill-emitter-at",
            "8",
            "--no-dac",
            "--data-dir",
            str(data),
        ],
        capture_output=True,
        text=True,
        timeout=400,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert "killed the group's leader" in result.stdout
    summary = json.loads((data / "summary.json").read_text())
    assert len(summary["emitter_urls"]) == 3
    killed, leader = summary["killed_emitter"], summary["leader"]
    assert killed in ("emitter1", "emitter2", "emitter3") and leader not in (None, killed), summary
    after = [s for s in summary["pool_slots"] if s["slot"] >= summary["killed_emitter_at_slot"]]
    assert len(after) >= 10 and sum(s["outcome"] != "missed" for s in after) >= len(after) - 2, after
    # One canonical pool block per filled slot, as the summary says.
    db = sqlite3.connect(data / "node" / "chain.db")
    canonical = dict(db.execute("SELECT slot, id FROM node_block WHERE canonical = 1 AND producer = 'pool'"))
    for s in summary["pool_slots"]:
        if s["outcome"] != "missed":
            assert canonical.get(s["slot"]) == s["block_id"], s
    # The devnet's own database is gone.
    made = re.search(r"pool database: (bppool_devnet_[0-9a-f]+)", result.stdout)
    assert made is not None, result.stdout[:2000]
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        left = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (made.group(1),)).fetchall()
    assert not left, f"{made.group(1)} was not dropped"
