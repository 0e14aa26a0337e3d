"""Process-level tuning shared by the long-running services: garbage collection off the hot path.

The runtime belongs to the process, not to a service: a service only offers its quiet time
(``quiet_ms()``), and the entry point that runs it as a process (:func:`service_shell.clitools.run_app`)
installs the pacer with :func:`pace_app` and tunes the allocator once. Services started in a
process that did not ask for it (the in-process test harnesses) leave the collector alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import gc
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from service_shell.supervisor import Supervisor

log = logging.getLogger("bppool.runtime")


# glibc's mallopt parameters (malloc.h)
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
TRIM_THRESHOLD_BYTES = 128 * 1024 * 1024
MMAP_THRESHOLD_BYTES = 32 * 1024 * 1024


def tune_malloc() -> bool:
    """Keep freed memory for the next request instead of handing it back to the kernel
    (glibc only; returns whether it applied).

    A service that takes ~170 kB request bodies allocates and frees a buffer of that size
    per request. glibc gives memory at the top of the heap back to the kernel once more than
    the trim threshold is free (by default twice the last large block freed, ~350 kB here)
    and maps the next one afresh: every request then pays ~40 page faults per buffer
    (measured in the emitter: ~1,100 faults and 3-5 ms of CPU per slot of 21 candidates).
    Fixed thresholds (128 MB trim, 32 MB before a block gets its own mapping) keep that
    memory in the heap; the cost is up to 128 MB of free memory the process keeps.
    """
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl, macOS)
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)) and bool(
        mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES)
    )


class GcPacer:
    """Runs the garbage collector's cycle search at the moments the service calls quiet.

    Python starts a collection when enough objects were allocated, wherever the service is.
    Measured in the emitter (young collections every 50,000 allocations): young ones took
    0.3 ms on average and up to ~19 ms, full ones 50-80 ms, and the one that lands on a slot's
    first milliseconds is the tail of the emission latency. The pacer turns automatic collection
    off and, every ``tick_s``, asks the service how long nothing will need it
    (``quiet_ms()``): a young collection (every tenth one including the middle generation)
    runs once ``young_allocations`` objects are pending and the service is quiet for
    ``young_needs_ms``; a full one runs every ``full_every_s`` in a quiet stretch of
    ``full_needs_ms``. Whatever the service says, a young collection runs once
    ``hard_allocations`` objects are pending, and a full one once it is ``10 * full_every_s``
    overdue, at the next quiet moment of any length: memory stays bounded by the pace.
    """

    def __init__(
        self,
        quiet_ms: Callable[[], float],
        *,
        young_allocations: int = 50_000,
        young_needs_ms: float = 15.0,
        full_every_s: float = 60.0,
        full_needs_ms: float = 90.0,
        hard_allocations: int = 1_000_000,
        tick_s: float = 0.01,
        clock: Callable[[], float] = time.monotonic,
        collect: Callable[[int], int] = gc.collect,
        count: Callable[[], tuple[int, int, int]] = gc.get_count,
        supervisor: Supervisor | None = None,
    ) -> None:
        self.quiet_ms = quiet_ms
        self.young_allocations = young_allocations
        self.young_needs_ms = young_needs_ms
        self.full_every_s = full_every_s
        self.full_needs_ms = full_needs_ms
        self.hard_allocations = hard_allocations
        self.tick_s = tick_s
        self.clock = clock
        self.collect = collect
        self.count = count
        self.supervisor = supervisor  # counts a failed step (``gc_pacer``)
        if supervisor is not None:
            supervisor.declare("gc_pacer")
        self.last_full = clock()
        self.young_runs = 0
        self.collections = [0, 0, 0]  # by generation
        self._task: asyncio.Task[None] | None = None

    def step(self) -> int | None:
        """Collect what is due now; the generation collected, or None."""
        pending = self.count()[0]
        now = self.clock()
        since_full = now - self.last_full
        if since_full >= self.full_every_s or pending >= self.hard_allocations:
            quiet = self.quiet_ms()
            if since_full >= self.full_every_s and (
                quiet >= self.full_needs_ms or (since_full >= 10 * self.full_every_s and quiet > 0)
            ):
                return self._run(2, now)
            if pending >= self.hard_allocations:
                return self._run(1, now)
        if pending >= self.young_allocations and self.quiet_ms() >= self.young_needs_ms:
            return self._run(1 if self.young_runs % 10 == 9 else 0, now)
        return None

    def _run(self, generation: int, now: float) -> int:
        started = time.perf_counter()
        self.collect(generation)
        if generation == 2:
            self.last_full = now
        else:
            self.young_runs += 1
        self.collections[generation] += 1
        log.debug("gc generation %d: %.1f ms", generation, (time.perf_counter() - started) * 1000)
        return generation

    @property
    def running(self) -> bool:
        """Whether the pacer is pacing (started and not stopped)."""
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Freeze what start-up left alive, turn automatic collection off and start pacing."""
        gc.collect()
        gc.freeze()
        gc.disable()
        self._task = asyncio.get_running_loop().create_task(self._run_forever())

    async def _run_forever(self) -> None:
        while True:
            await asyncio.sleep(self.tick_s)
            try:
                self.step()
            except Exception as exc:  # never let bookkeeping stop the pace
                if self.supervisor is not None:
                    self.supervisor.report("gc_pacer", exc)
                else:
                    log.exception("garbage collection pacing failed")

    async def stop(self) -> None:
        """Stop pacing and give collection back to the interpreter."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        gc.enable()


def pace_app(app: Any, quiet_ms: Callable[[], float], supervisor: Supervisor) -> GcPacer:
    """Pace garbage collection for as long as ``app`` (a Starlette/FastAPI app) runs: a
    :class:`GcPacer` on the service's ``quiet_ms``, started once the app's own lifespan has
    started the service and stopped before it stops it. A failed step is counted under
    ``gc_pacer`` by the service's ``supervisor``. The pacer is ``app.state.gc_pacer``."""
    pacer = GcPacer(quiet_ms, supervisor=supervisor)
    service_lifespan = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(app_: Any) -> AsyncIterator[Any]:
        async with service_lifespan(app_) as state:
            pacer.start()
            try:
                yield state
            finally:
                await pacer.stop()

    app.router.lifespan_context = lifespan
    app.state.gc_pacer = pacer
    return pacer


def slot_phase_quiet_ms(
    now_ms: int, genesis_time: int, slot_ms: int, *, quiet_from_ms: int, quiet_until_ms: int
) -> float:
    """Milliseconds left of the quiet part ``[quiet_from_ms, quiet_until_ms)`` of the current
    slot (0 outside it): for a service whose busy moments follow the slot clock."""
    phase = (now_ms - genesis_time) % slot_ms
    return float(quiet_until_ms - phase) if quiet_from_ms <= phase < quiet_until_ms else 0.0
