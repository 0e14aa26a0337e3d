"""Group commit for the event log.

Arrivals that do not emit anything are appended through here: every waiting request's events
go to the database in one transaction, and each request resumes once its events are committed.
So an arrival is still durable before it is acknowledged, while many concurrent arrivals share
one commit: the writer runs when the event loop has taken in what arrived meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from sqlalchemy.engine import Engine

from emitter.crud import EventAppender, EventRecord
from service_shell.supervisor import Supervisor


class EventWriter:
    """Batches :class:`EventRecord` appends into shared transactions."""

    def __init__(self, engine: Engine, *, supervisor: Supervisor | None = None) -> None:
        self.engine = engine
        self.supervisor = supervisor
        self.appender = EventAppender(engine)
        self._pending: list[tuple[list[EventRecord], asyncio.Future[None]]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[Any] | None = None
        self.batches = 0

    def start(self) -> None:
        """Start the writer (under the supervisor as ``event_writer``, when there is one)."""
        if self.supervisor is not None:
            self._task = self.supervisor.supervise("event_writer", self._run)
        else:
            self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._flush()
        self.appender.close()

    async def append(self, events: list[EventRecord]) -> None:
        """Return once ``events`` are committed (raises if the commit failed)."""
        if not events:
            return
        if self._task is None or self._task.done():
            self.appender.append(events)  # not running: write at once
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((events, future))
        self._wake.set()
        await future

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            await self._flush()

    async def _flush(self) -> None:
        batch, self._pending = self._pending, []
        if not batch:
            return
        try:
            # On the event loop's own thread: one short commit for the whole batch. A worker
            # thread would wait for the GIL behind the busy loop (up to the 5 ms switch
            # interval, several times per commit) and hold every waiting request longer.
            self.appender.append([e for events, _ in batch for e in events])
        except Exception as exc:  # every waiter learns its events were not written
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        self.batches += 1
        for _, future in batch:
            if not future.done():
                future.set_result(None)
