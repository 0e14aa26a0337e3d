"""The garbage-collection pacer: collections only at quiet moments, and never unbounded."""

from __future__ import annotations

import asyncio
import gc

import pytest

from service_shell.runtime import GcPacer, slot_phase_quiet_ms
from service_shell.supervisor import Supervisor


class Fake:
    """A clock, an allocation count and a quiet time the test sets; collections recorded."""

    def __init__(self) -> None:
        self.now = 0.0
        self.pending = 0
        self.quiet = 0.0
        self.collected: list[int] = []

    def collect(self, generation: int) -> int:
        self.collected.append(generation)
        self.pending = 0
        return 0

    def step(self, pacer: GcPacer, **changes: float) -> int | None:
        """Set the clock, the pending count or the quiet time; then one pacer step."""
        for name, value in changes.items():
            setattr(self, name, value)
        return pacer.step()

    def pacer(self) -> GcPacer:
        return GcPacer(
            lambda: self.quiet,
            young_allocations=100,
            young_needs_ms=15,
            full_every_s=60,
            full_needs_ms=90,
            hard_allocations=1000,
            clock=lambda: self.now,
            collect=self.collect,
            count=lambda: (self.pending, 0, 0),
        )


def test_young_collections_wait_for_a_quiet_moment() -> None:
    fake = Fake()
    pacer = fake.pacer()
    assert fake.step(pacer, pending=99, quiet=500) is None  # nothing due
    assert fake.step(pacer, pending=100, quiet=10) is None  # due, but the service is busy soon
    assert fake.step(pacer, quiet=15) == 0 and fake.collected == [0]
    # every tenth young collection takes the middle generation along
    for _ in range(9):
        fake.step(pacer, pending=100)
    assert fake.collected == [0] * 9 + [1]


def test_full_collections_need_a_long_quiet_stretch_until_far_overdue() -> None:
    fake = Fake()
    pacer = fake.pacer()
    assert fake.step(pacer, now=60, quiet=89) is None
    assert fake.step(pacer, quiet=90) == 2 and pacer.last_full == 60
    # never a stretch that long: ten periods later any quiet moment will do, a busy one won't
    assert fake.step(pacer, now=660, quiet=0) is None
    assert fake.step(pacer, quiet=1) == 2
    assert pacer.collections == [0, 0, 2]


def test_a_busy_service_still_collects_past_the_hard_limit() -> None:
    fake = Fake()
    pacer = fake.pacer()
    assert fake.step(pacer, quiet=0, pending=999) is None
    assert fake.step(pacer, pending=1000) == 1


def test_quiet_part_of_a_slot() -> None:
    genesis, slot_ms = 1_000, 500
    quiet = [
        slot_phase_quiet_ms(
            genesis + 7 * slot_ms + phase, genesis, slot_ms, quiet_from_ms=150, quiet_until_ms=340
        )
        for phase in (0, 149, 150, 300, 339, 340, 499)
    ]
    assert quiet == [0, 0, 190, 40, 1, 0, 0]


@pytest.mark.anyio
async def test_the_pacer_turns_automatic_collection_off_while_it_runs() -> None:
    collected: list[int] = []

    def collect(generation: int) -> int:
        collected.append(generation)
        return 0

    pacer = GcPacer(lambda: 100.0, young_allocations=0, tick_s=0.001, collect=collect)
    assert gc.isenabled()
    pacer.start()
    try:
        assert not gc.isenabled()
        for _ in range(200):
            if collected:
                break
            await asyncio.sleep(0.005)
        assert collected and collected[0] in (0, 1)
    finally:
        await pacer.stop()
    assert gc.isenabled()


@pytest.mark.anyio
async def test_a_failed_step_is_counted_and_the_pace_goes_on() -> None:
    collected: list[int] = []

    def collect(generation: int) -> int:
        collected.append(generation)
        if len(collected) == 1:
            raise MemoryError("a collection that went wrong")
        return 0

    supervisor = Supervisor()
    pacer = GcPacer(lambda: 100.0, young_allocations=0, tick_s=0.001, collect=collect, supervisor=supervisor)
    assert supervisor.failures == {"gc_pacer": 0}
    pacer.start()
    try:
        for _ in range(400):
            if len(collected) >= 3:
                break
            await asyncio.sleep(0.005)
        assert len(collected) >= 3  # it went on pacing
    finally:
        await pacer.stop()
    assert supervisor.failures == {"gc_pacer": 1} and supervisor.down() == {}


def test_tuned_malloc_keeps_freed_request_buffers_for_the_next_requests() -> None:
    """After tune_malloc, allocating and freeing a slot's worth of ~170 kB bodies again and
    again maps no new pages (glibc would otherwise hand them back and fault them in again)."""
    import platform
    import subprocess
    import sys

    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        pytest.skip("mallopt tuning applies to glibc only")
    script = """
import os, resource, sys
from service_shell.runtime import tune_malloc
if sys.argv[1] == "tuned":
    assert tune_malloc()
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
def slot():
    bodies = [os.urandom(16) * 10_800 for _ in range(21)]
    copies = [b[:100] + b[100:] for b in bodies]
    del bodies, copies
slot()
before = faults()
for _ in range(5):
    slot()
print(faults() - before)
"""
    counts = {
        mode: int(
            subprocess.run([sys.executable, "-c", script, mode], capture_output=True, check=True).stdout
        )
        for mode in ("default", "tuned")
    }
    assert counts["tuned"] < 50 < counts["default"], counts
