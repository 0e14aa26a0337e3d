"""Clocks: the one place services read the time, so tests and simulations can inject it."""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class Clock(Protocol):
    """Milliseconds since the Unix epoch, and a way to wait."""

    def now_ms(self) -> int: ...

    async def sleep_until_ms(self, when_ms: int) -> None: ...


class SystemClock:
    """The wall clock."""

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000

    async def sleep_until_ms(self, when_ms: int) -> None:
        delay = (when_ms - self.now_ms()) / 1000
        if delay > 0:
            await asyncio.sleep(delay)


def monotonic_ms() -> float:
    """A monotonic time in milliseconds, for measuring durations."""
    return time.perf_counter() * 1000
