"""A devnet (real processes, :class:`bppool.devnet.Devnet`) in end-to-end tests: polling it
and always stopping it, with its logs shown when a test fails."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import httpx

from bppool.devnet import Devnet

T = TypeVar("T")


async def eventually(
    what: str, probe: Callable[[], Awaitable[T | None]], timeout: float, devnet: Devnet, interval: float = 0.5
) -> T:
    """Poll ``probe`` every ``interval`` s until it returns something true (an HTTP error counts
    as not yet); fail with ``what`` after ``timeout`` s, or as soon as a devnet process died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        devnet.check_processes()
        try:
            found = await probe()
        except httpx.HTTPError:
            found = None
        if found:
            return found
        await asyncio.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def metric_samples(text: str, name: str) -> dict[str, float]:
    """``{labels: value}`` of every sample of ``name`` in a ``/metrics`` page (``""`` for a
    sample without labels)."""
    found = {}
    for line in text.splitlines():
        match = re.fullmatch(rf"{name}(\{{[^}}]*\}})? (\S+)", line)
        if match:
            found[match.group(1) or ""] = float(match.group(2))
    return found


@contextmanager
def stopped_at_the_end(devnet: Devnet, *logs: str, tail: int = 4000) -> Iterator[Devnet]:
    """Stop every process of ``devnet`` when the block ends; on a failure inside it, print the
    last ``tail`` characters of each of the ``logs`` (process names) first."""
    try:
        yield devnet
    except BaseException:
        for name in logs:
            print(f"--- {name} ---\n" + (devnet.root / "logs" / f"{name}.log").read_text()[-tail:])
        raise
    finally:
        devnet.stop_all()
