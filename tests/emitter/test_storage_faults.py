"""Storage faults are a state the pool service is in, and leaves on its own.

A real node, a real emitter and real member clients; the storage truly fails: a small tmpfs
filled up, the tmpfs remounted read-only, a PostgreSQL database turned read-only. In each
case: what was acknowledged stays (the emissions answered ``selected`` are recorded and on
the node), members get ``503 storage_unavailable``, readiness answers 503 naming the storage
error, ``bppool_emitter_storage_ok`` is 0, the failed slots count as missed, the replica keeps
following the node, and once the storage works again the service emits again, without a
restart. A service started on a read-only database does not report ready until it is writable.
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Callable, Iterator
from contextlib import AsyncExitStack
from pathlib import Path

import httpx
import psycopg
import pytest
from sqlalchemy.engine import make_url

from chain.core import Block
from emitter import crud
from producer_client import PoolError
from tests.conftest import POSTGRES_ADMIN_URL
from tests.emitter.conftest import (
    PoolHarness,
    eventually,
    restart_pool,
    start_pool,
)
from tests.helpers.environment import unavailable

pytestmark = pytest.mark.anyio

MAX_FAULTY_SLOTS = 40  # a full disk shows once SQLite's log must grow: within a few slots


@contextlib.contextmanager
def tmpfs(path: Path, size: str = "8m") -> Iterator[Path]:
    """A small tmpfs mounted at ``path`` (unmounted afterwards); a skip when mounting is not
    permitted, except under CI=true."""
    path.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True, text=True
    )
    if mounted.returncode != 0:
        reason = mounted.stderr.strip()
        unavailable(f"cannot mount a tmpfs at {path} ({reason}): these storage faults need root")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def metric(h: PoolHarness, name: str, **labels: str) -> float:
    value = h.emitter.metrics.registry.get_sample_value(name, labels)
    return float(value) if value is not None else 0.0


async def readiness(h: PoolHarness) -> tuple[int, dict]:
    async with httpx.AsyncClient(base_url=h.emitter_url, timeout=5) as http:
        response = await http.get("/readyz")
    return response.status_code, response.json()


async def emit_by_member(h: PoolHarness, slot: int) -> str:
    """A member's candidate for ``slot`` is selected and reaches the node; returns its id."""
    await h.open_slot(slot, 10)
    candidate = h.candidate("alice")
    result = await h.members["alice"].submit_candidate(candidate)
    assert result["selected"], result
    await h.node_has_slot(slot)
    assert h.node.head_block is not None and h.node.head_block.id == candidate.id
    await h.close_slot(slot)
    return candidate.id


async def enter_slot(h: PoolHarness, slot: int) -> None:
    """10 ms into ``slot``: open, or already given up (the storage could not say whether it
    has its block)."""
    h.clock.at_slot(slot, 10)
    await eventually(
        lambda: (
            (h.emitter.run is not None and h.emitter.run.slot == slot) or h.emitter.last_closed_slot >= slot
        ),
        what=f"slot {slot} to open or be given up",
    )


async def submit_while_failing(h: PoolHarness, slot: int, candidate: Block, acknowledged: dict) -> None:
    """Deliver ``candidate`` while the storage fails: refused with a 503, or (a small write
    that still went through) selected, and then entered in ``acknowledged``."""
    try:
        result = await h.members["alice"].submit_candidate(candidate)
    except PoolError as exc:
        assert exc.status == 503 and exc.code == "storage_unavailable", exc
    else:
        assert result["selected"], result
        acknowledged[slot] = candidate.id


async def emit_until_refused(h: PoolHarness, slot: int, acknowledged: dict) -> tuple[int, Block]:
    """Emit from ``slot`` on until the failing storage refuses an emission (a 503); the slot
    and the candidate refused. Those still written are entered in ``acknowledged``."""
    # Slots go on; one whose emission the storage refuses answers 503 and is missed.
    last = slot + MAX_FAULTY_SLOTS - 1
    refused = None
    while slot <= last:
        await enter_slot(h, slot)
        candidate = h.candidate("alice")
        try:
            result = await h.members["alice"].submit_candidate(candidate)
        except PoolError as exc:
            refused = exc
            break
        # Still written (SQLite may reuse its log on a full disk): acknowledged, so kept.
        assert result["selected"], result
        acknowledged[slot] = candidate.id
        await h.node_has_slot(slot)
        await h.close_slot(slot)
        slot += 1
    assert refused is not None, f"the storage never failed in {MAX_FAULTY_SLOTS} slots"
    assert refused.status == 503 and refused.code == "storage_unavailable", refused
    return slot, candidate


async def storage_fault(
    h: PoolHarness, first_slot: int, fail: Callable[[], None], mend: Callable[[], None]
) -> None:
    """Emit, break the storage, check the faulty state, mend it, emit again."""
    acknowledged = {first_slot: await emit_by_member(h, first_slot)}
    missed_before = metric(h, "bppool_emitter_slot_outcomes_total", outcome="missed")
    fail()
    slot, candidate = await emit_until_refused(h, first_slot + 1, acknowledged)
    # Unacknowledged, the delivery may come again (it is not taken for a duplicate).
    h.clock.set(h.clock.now_ms() + 1)  # a new signed request, not a replay of the first
    await submit_while_failing(h, slot, candidate, acknowledged)
    status, body = await readiness(h)
    assert status == 503 and body["storage"].startswith("error: "), body
    assert metric(h, "bppool_emitter_storage_ok") == 0
    assert metric(h, "bppool_emitter_storage_errors_total") >= 1
    await h.close_slot(slot)
    # The slot was missed and counted (on a full disk a later write for it may still have
    # gone through: then its block is on the node); the replica kept no refused block.
    if metric(h, "bppool_emitter_slot_outcomes_total", outcome="missed") == missed_before:
        recorded = crud.get_emission(h.emitter.engine, slot=slot)
        assert recorded is not None, "the failed slot was not counted as missed"
        await h.node_has_slot(slot)
    else:
        assert metric(h, "bppool_emitter_slot_outcomes_total", outcome="missed") == missed_before + 1
        assert h.node.state.slot < slot
    assert h.emitter.follower.state.head_id == h.node.state.head_id
    # A slot later the state holds while the storage fails (on a full disk a small write may
    # still go through: then it is acknowledged, and kept).
    slot += 1
    await enter_slot(h, slot)
    await submit_while_failing(h, slot, h.candidate("alice"), acknowledged)
    await h.close_slot(slot)
    status, body = await readiness(h)
    assert status == 503 and body["storage"].startswith("error: "), body

    mend()
    await eventually(
        lambda: h.emitter.storage.ok, timeout=20, what="the service to see its storage work again"
    )
    status, body = await readiness(h)
    assert status == 200 and body["storage"] == "ok", body
    assert metric(h, "bppool_emitter_storage_ok") == 1
    acknowledged[slot + 1] = await emit_by_member(h, slot + 1)
    # Nothing acknowledged was lost: each selected block is recorded and on the node.
    for s, block_id in acknowledged.items():
        recorded = crud.get_emission(h.emitter.engine, slot=s)
        assert recorded is not None and recorded["block_id"] == block_id, s
        assert h.node.blockstore.get(block_id) is not None, s


async def test_a_full_disk_is_a_state_the_service_leaves_on_its_own(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "disk") as disk:
        filler = disk / "filler"

        def fill() -> None:
            # Unbuffered: closing the file has nothing left to write (on a full disk it would fail).
            with open(filler, "wb", buffering=0) as f, contextlib.suppress(OSError):
                while True:
                    f.write(b"\0" * 65536)

        async with AsyncExitStack() as stack:
            h = await start_pool(stack, tmp_path, f"sqlite:///{disk / 'pool.db'}")
            await storage_fault(h, 1, fill, filler.unlink)


async def test_a_read_only_file_system_is_a_state_the_service_leaves_on_its_own(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "disk") as disk:
        async with AsyncExitStack() as stack:
            h = await start_pool(stack, tmp_path, f"sqlite:///{disk / 'pool.db'}")

            def remount_read_only() -> None:
                # Linux refuses to remount a file system read-only while a file on it is open
                # for writing (the kernel itself does it after an I/O error); the service's
                # pooled SQLite handles are closed first, as between two of its writes.
                for _ in range(50):
                    h.emitter.engine.dispose()
                    h.emitter.writer.appender.close()
                    done = subprocess.run(["mount", "-o", "remount,ro", str(disk)], capture_output=True)
                    if done.returncode == 0:
                        return
                raise AssertionError(f"could not remount {disk} read-only: {done.stderr!r}")

            def remount_writable() -> None:
                subprocess.run(["mount", "-o", "remount,rw", str(disk)], check=True)

            await storage_fault(h, 1, remount_read_only, remount_writable)


def set_read_only(database_url: str, read_only: bool) -> None:
    """Make a PostgreSQL database refuse writes (or take them again) and end its sessions, so
    that every new one has the setting."""
    name = make_url(database_url).database
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=3) as admin:
        admin.execute(
            f'ALTER DATABASE "{name}" SET default_transaction_read_only = {"on" if read_only else "off"}'
        )
        if read_only:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            )


async def test_a_read_only_database_is_a_state_the_service_leaves_on_its_own(
    tmp_path: Path, postgres_url: str
) -> None:
    async with AsyncExitStack() as stack:
        h = await start_pool(stack, tmp_path, postgres_url)
        await storage_fault(
            h, 1, lambda: set_read_only(postgres_url, True), lambda: set_read_only(postgres_url, False)
        )


async def test_a_service_started_on_a_read_only_database_is_not_ready_until_it_is_writable(
    tmp_path: Path, postgres_url: str
) -> None:
    async with AsyncExitStack() as stack:
        async with AsyncExitStack() as first:  # creates the schema and admits the members
            first_run = await start_pool(first, tmp_path, postgres_url, node_stack=stack)
        set_read_only(postgres_url, True)
        h = await restart_pool(stack, tmp_path, first_run)
        status, body = await readiness(h)
        assert status == 503 and "read-only" in body["storage"], body
        assert metric(h, "bppool_emitter_storage_ok") == 0
        await enter_slot(h, 1)
        with pytest.raises(PoolError) as refused:
            await h.members["alice"].submit_candidate(h.candidate("alice"))
        assert refused.value.status == 503 and refused.value.code == "storage_unavailable"
        await h.close_slot(1)
        assert metric(h, "bppool_emitter_slot_outcomes_total", outcome="missed") == 1
        set_read_only(postgres_url, False)
        await eventually(lambda: h.emitter.storage.ok, timeout=20, what="the storage to be seen writable")
        status, body = await readiness(h)
        assert status == 200 and body["storage"] == "ok", body
        await emit_by_member(h, 2)
