"""The supervisor of background tasks: a failure is logged, counted, restarted with capped
exponential backoff and reported down until the task runs again; shutdown is no failure."""

from __future__ import annotations

import asyncio
import gc
import logging
import time

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from service_shell.supervisor import Supervisor


def sample(registry: CollectorRegistry, name: str, task: str) -> float | None:
    return registry.get_sample_value(name, {"task": task})


async def until(predicate, timeout: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.005)


def test_a_failing_task_is_logged_counted_down_and_restarted(caplog: pytest.LogCaptureFixture) -> None:
    registry = CollectorRegistry()
    supervisor = Supervisor(backoff_s=0.3, stable_s=0.3)
    supervisor.register(registry)
    runs: list[int] = []

    async def main() -> None:
        proceed = asyncio.Event()

        async def loop() -> None:
            runs.append(len(runs))
            if len(runs) == 1:
                raise KeyError("lib")  # an unexpected failure on the first run
            await proceed.wait()
            await asyncio.sleep(3600)

        supervisor.supervise("follower", loop)
        assert sample(registry, "bppool_task_failures_total", "follower") == 0  # a series from the start
        await until(lambda: supervisor.failures["follower"] == 1)
        # Down while it waits for its restart: named, with the error.
        assert supervisor.down() == {"follower": "KeyError: 'lib'"}
        assert sample(registry, "bppool_task_down", "follower") == 1
        await until(lambda: len(runs) == 2)
        assert "follower" in supervisor.down()  # restarted, not yet running for stable_s
        await until(lambda: not supervisor.down())
        proceed.set()
        assert sample(registry, "bppool_task_failures_total", "follower") == 1
        assert sample(registry, "bppool_task_down", "follower") == 0
        await supervisor.stop()

    with caplog.at_level(logging.ERROR, logger="bppool.tasks"):
        asyncio.run(main())
    assert runs == [0, 1]
    [record] = [r for r in caplog.records if "follower" in r.getMessage()]
    assert "task follower failed; restarting in 0.3 s" in record.getMessage()
    assert record.exc_info is not None and record.exc_info[0] is KeyError  # with its traceback
    assert b'bppool_task_failures_total{task="follower"} 1.0' in generate_latest(registry)


def test_cancellation_on_shutdown_is_not_a_failure(caplog: pytest.LogCaptureFixture) -> None:
    supervisor = Supervisor()

    async def main() -> None:
        started = asyncio.Event()

        async def forever() -> None:
            started.set()
            await asyncio.sleep(3600)

        supervisor.supervise("slot_loop", forever)
        one_off = supervisor.spawn("push", asyncio.sleep(3600))
        await started.wait()
        assert supervisor.tasks == 2
        await supervisor.stop()
        assert one_off.cancelled()
        assert supervisor.tasks == 0

    with caplog.at_level(logging.ERROR, logger="bppool.tasks"):
        asyncio.run(main())
    assert supervisor.failures == {"slot_loop": 0, "push": 0}
    assert supervisor.down() == {}
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


def test_a_cancellation_from_inside_the_task_is_a_failure() -> None:
    supervisor = Supervisor(backoff_s=0.01)
    runs: list[int] = []

    async def main() -> None:
        async def loop() -> None:
            runs.append(1)
            if len(runs) == 1:
                inner = asyncio.get_running_loop().create_future()
                inner.cancel()  # someone cancelled what the loop awaited, not the loop
                await inner
            await asyncio.sleep(3600)

        supervisor.supervise("follower", loop)
        await until(lambda: len(runs) == 2)
        await supervisor.stop()

    asyncio.run(main())
    assert supervisor.failures == {"follower": 1}
    assert "follower" in supervisor.down()  # restarted less than stable_s ago


def test_backoff_doubles_up_to_its_cap_and_starts_over_after_a_stable_run() -> None:
    supervisor = Supervisor(backoff_s=0.02, max_backoff_s=0.08, stable_s=0.3)
    starts: list[float] = []

    async def main() -> None:
        async def flaky() -> None:
            starts.append(time.monotonic())
            if len(starts) == 7:
                await asyncio.sleep(0.35)  # a run that lasts: the next backoff is the first again
            raise RuntimeError("boom")

        supervisor.supervise("expect_loop", flaky)
        await until(lambda: len(starts) >= 8, timeout=10)
        await supervisor.stop()

    asyncio.run(main())
    gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
    # 0.02, 0.04, 0.08, 0.08 (capped), 0.08, then 0.35 of running + 0.02 (started over)
    for gap, least in zip(gaps, (0.02, 0.04, 0.08, 0.08, 0.08), strict=False):
        assert gap >= least * 0.9, gaps
    assert gaps[2] < 1.0 and gaps[3] < 1.0  # capped (generous bound: a loaded machine is slow)
    assert 0.35 <= gaps[6] < 0.35 + 0.08, gaps
    assert supervisor.failures["expect_loop"] >= 7


def test_a_failing_one_off_task_is_counted_not_restarted_and_its_awaiter_gets_the_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    supervisor = Supervisor()
    runs: list[int] = []

    async def deliver() -> None:
        runs.append(1)
        raise ValueError("bad answer")

    async def main() -> None:
        awaited = supervisor.spawn("deliver", deliver())
        with pytest.raises(ValueError):
            await awaited
        supervisor.spawn("deliver", deliver())  # nobody awaits this one
        await until(lambda: supervisor.failures["deliver"] == 2)
        await asyncio.sleep(0.05)

    with caplog.at_level(logging.ERROR):
        asyncio.run(main())
        gc.collect()  # a never-retrieved exception would be logged by asyncio now
    assert runs == [1, 1]
    assert supervisor.down() == {}  # nothing to restart: not down
    messages = [r.getMessage() for r in caplog.records]
    assert sum("task deliver failed" in m for m in messages) == 2
    assert not any("never retrieved" in m for m in messages)


def test_a_failed_job_is_down_until_a_run_succeeds() -> None:
    registry = CollectorRegistry()
    supervisor = Supervisor()
    supervisor.register(registry)
    supervisor.job_failed("dac_process_transfers", RuntimeError("node refused"))
    assert supervisor.down() == {"dac_process_transfers": "RuntimeError: node refused"}
    assert sample(registry, "bppool_task_failures_total", "dac_process_transfers") == 1
    supervisor.job_succeeded("dac_process_transfers")
    assert supervisor.down() == {}
    assert sample(registry, "bppool_task_down", "dac_process_transfers") == 0
