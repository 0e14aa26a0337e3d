"""Background tasks that never die silently: one supervisor per service process.

Every long-running loop of a service (a chain follower, the emitter's slot loop, the node's
production loop, a member's slot feed, ...) runs under :meth:`Supervisor.supervise`: named,
started from a coroutine factory, and restarted after an unexpected exception with capped
exponential backoff. A failure is logged once with its traceback and counted in
``bppool_task_failures_total{task=...}`` (in the service's own registry, see
:meth:`Supervisor.register`); the task is *down* from the failure until its restarted run has
lasted ``stable_s`` seconds, and the service's readiness names the tasks that are down
(:meth:`Supervisor.down`). Cancellation (shutdown) is never a failure.

Short-lived tasks (a gossip, a push, one delivery) run under :meth:`Supervisor.spawn`: a failure
is logged and counted the same way, and nothing is restarted. Periodic jobs run by a scheduler
report through :meth:`Supervisor.job_failed` and :meth:`Supervisor.job_succeeded`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

log = logging.getLogger("bppool.tasks")

TaskFactory = Callable[[], Coroutine[Any, Any, Any]]
FailureHook = Callable[[BaseException], None]


@dataclass
class _Down:
    """Why a task is down, and since when (monotonic seconds)."""

    since: float
    error: str
    restarted_at: float | None = None  # its next run started (up once it lasts ``stable_s``)


class Supervisor:
    """Runs and watches one service's background tasks."""

    def __init__(
        self,
        *,
        backoff_s: float = 0.1,
        max_backoff_s: float = 5.0,
        stable_s: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.stable_s = stable_s
        self.clock = clock
        self.failures: dict[str, int] = {}
        self._down: dict[str, _Down] = {}
        self._tasks: set[asyncio.Task[Any]] = set()

    # --- running ---------------------------------------------------------------------------

    def supervise(
        self, name: str, factory: TaskFactory, *, on_failure: FailureHook | None = None
    ) -> asyncio.Task[None]:
        """Run ``factory()`` as the task ``name`` until cancelled, restarting it after any
        unexpected exception (``on_failure`` is told first). A run that returns ends it."""
        self.failures.setdefault(name, 0)
        return self._start(self._run_supervised(name, factory, on_failure), name)

    def spawn(self, name: str, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run a one-off task: an unexpected exception is logged and counted under ``name``
        (whoever awaits the task still gets it); it is not restarted."""
        self.failures.setdefault(name, 0)
        task = self._start(coro, name)
        task.add_done_callback(lambda done: self._one_off_done(name, done))
        return task

    def _start(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _run_supervised(self, name: str, factory: TaskFactory, on_failure: FailureHook | None) -> None:
        backoff = self.backoff_s
        while True:
            started = self.clock()
            down = self._down.get(name)
            if down is not None:
                down.restarted_at = started
            error: BaseException
            try:
                await factory()
            except asyncio.CancelledError as exc:
                current = asyncio.current_task()
                if current is None or current.cancelling():
                    raise  # shutdown: not a failure
                error = exc  # a cancellation from inside the task (a future it awaited)
            except Exception as exc:
                error = exc
            else:
                self._down.pop(name, None)
                log.info("task %s finished", name)
                return
            if self.clock() - started >= self.stable_s:
                backoff = self.backoff_s  # it had recovered: start the backoff over
            self._failed(name, error, f"task {name} failed; restarting in {backoff:.1f} s")
            if on_failure is not None:
                try:
                    on_failure(error)
                except Exception:
                    log.exception("task %s: its failure hook failed", name)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self.max_backoff_s)

    def _one_off_done(self, name: str, task: asyncio.Task[Any]) -> None:
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None and isinstance(exc, Exception):
            self._count(name, exc, f"task {name} failed")

    def declare(self, name: str) -> None:
        """Export ``name``'s series from now on (at 0), before anything ran under it."""
        self.failures.setdefault(name, 0)

    def report(self, name: str, exc: BaseException) -> None:
        """A loop that carries on by itself after an unexpected exception (it must not stop,
        e.g. the garbage collection pacer): logged and counted under ``name``, never down."""
        self._count(name, exc, f"task {name} failed; it carries on")

    def _count(self, name: str, exc: BaseException, message: str) -> None:
        self.failures[name] = self.failures.get(name, 0) + 1
        log.error("%s: %s", message, exc or type(exc).__name__, exc_info=exc)

    def _failed(self, name: str, exc: BaseException, message: str) -> None:
        self._count(name, exc, message)
        self._down[name] = _Down(self.clock(), f"{type(exc).__name__}: {exc}"[:200])

    # --- periodic jobs (run by a scheduler) -------------------------------------------------

    def job_failed(self, name: str, exc: BaseException) -> None:
        """A scheduled job's run failed: logged, counted, and the job is down until a run of
        it succeeds (the scheduler runs it again at its next time)."""
        self._failed(name, exc, f"job {name} failed; it runs again at its next time")

    def job_succeeded(self, name: str) -> None:
        """A scheduled job's run succeeded (it is up again if it was down)."""
        self.declare(name)
        self._down.pop(name, None)

    # --- state -----------------------------------------------------------------------------

    def down(self) -> dict[str, str]:
        """The tasks down now, with their last error: failed, and not yet restarted, or
        restarted less than ``stable_s`` ago."""
        now = self.clock()
        return {
            name: d.error
            for name, d in sorted(self._down.items())
            if d.restarted_at is None or now - d.restarted_at < self.stable_s
        }

    def reasons(self) -> dict[str, Any]:
        """The supervisor's part of a service's readiness reasons: ``{"tasks_down": {task:
        last error}}`` while a task is down, empty otherwise."""
        down = self.down()
        return {"tasks_down": down} if down else {}

    @property
    def tasks(self) -> int:
        """How many tasks are running now."""
        return len(self._tasks)

    async def stop(self) -> None:
        """Cancel every task and wait for them to end."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # --- metrics ---------------------------------------------------------------------------

    def register(self, registry: CollectorRegistry) -> None:
        """Export ``bppool_task_failures_total{task}`` and ``bppool_task_down{task}`` in
        ``registry`` (the service's own)."""
        registry.register(_TaskCollector(self))


class _TaskCollector(Collector):
    def __init__(self, supervisor: Supervisor) -> None:
        self.supervisor = supervisor

    def collect(self) -> Iterator[Metric]:
        supervisor = self.supervisor
        failures = CounterMetricFamily(
            "bppool_task_failures",
            "Unexpected exceptions in background tasks and scheduled jobs, by task (each is "
            "logged with its traceback; a long-running task is restarted with backoff).",
            labels=["task"],
        )
        down = GaugeMetricFamily(
            "bppool_task_down",
            "1 while a background task or scheduled job is down (failed, and not yet running "
            "again for a few seconds).",
            labels=["task"],
        )
        failing = supervisor.down()
        for name, count in sorted(supervisor.failures.items()):
            failures.add_metric([name], count)
            down.add_metric([name], 1 if name in failing else 0)
        yield failures
        yield down
