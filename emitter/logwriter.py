"""Group commit for the event log.

Arrivals that do not emit anything are appended through here: every waiting request's events
go to the database in one transaction, and each request resumes once its events are committed.
So an arrival is still durable before it is acknowledged, while many concurrent arrivals share
one commit: the writer runs when the event loop has taken in what arrived meanwhile.

On SQLite the commit is made on the event loop's thread (microseconds), one batch at a time. On
PostgreSQL a commit waits for the disk (a millisecond or more): batches are awaited on
connections of their own (:mod:`service_shell.pgasync`), up to ``PG_LANES`` at once, so the
loop goes on meanwhile and a batch that forms during another's commit does not wait for it
(PostgreSQL flushes its log once for commits that come together).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from sqlalchemy.engine import Engine

from emitter.crud import EventAppender, EventRecord
from emitter.pgevents import AsyncEventAppender
from service_shell.db import is_postgres
from service_shell.supervisor import Supervisor

PG_LANES = 4  # batches committing at once on PostgreSQL

Waiter = tuple[list[EventRecord], "asyncio.Future[None]"]


class EventWriter:
    """Batches :class:`EventRecord` appends into shared transactions."""

    def __init__(self, engine: Engine, *, supervisor: Supervisor | None = None) -> None:
        self.engine = engine
        self.supervisor = supervisor
        self.appender = EventAppender(engine)
        self.lanes: list[AsyncEventAppender] = (
            [AsyncEventAppender(engine) for _ in range(PG_LANES)] if is_postgres(engine) else []
        )
        self._free: asyncio.Queue[AsyncEventAppender] = asyncio.Queue()
        for lane in self.lanes:
            self._free.put_nowait(lane)
        self._in_flight: set[asyncio.Task[None]] = set()
        self._pending: list[Waiter] = []
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
        if self._in_flight:
            await asyncio.gather(*self._in_flight, return_exceptions=True)
        batch, self._pending = self._pending, []
        if batch:
            await self._commit(batch, self.lanes[0] if self.lanes else None)
        self.appender.close()
        for lane in self.lanes:
            await lane.close()

    async def append(self, events: list[EventRecord]) -> None:
        """Return once ``events`` are committed (raises if the commit failed)."""
        if not events:
            return
        if self._task is None or self._task.done():
            # Not running: write at once.
            if self.lanes:
                lane = await self._free.get()
                try:
                    await lane.append(events)
                finally:
                    self._free.put_nowait(lane)
            else:
                self.appender.append(events)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((events, future))
        self._wake.set()
        await future

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            if not self.lanes:
                batch, self._pending = self._pending, []
                await self._commit(batch, None)
                continue
            while self._pending:
                lane = await self._free.get()
                batch, self._pending = self._pending, []
                if not batch:
                    self._free.put_nowait(lane)
                    break
                task = asyncio.create_task(self._commit_on(lane, batch))
                self._in_flight.add(task)
                task.add_done_callback(self._in_flight.discard)

    async def _commit_on(self, lane: AsyncEventAppender, batch: list[Waiter]) -> None:
        try:
            await self._commit(batch, lane)
        finally:
            self._free.put_nowait(lane)

    async def _commit(self, batch: list[Waiter], lane: AsyncEventAppender | None) -> None:
        """Write ``batch`` in one transaction (on ``lane``, or on the loop's thread for SQLite)
        and tell each waiter how it went."""
        if not batch:
            return
        events = [e for events, _ in batch for e in events]
        try:
            if lane is not None:
                await lane.append(events)
            else:
                # On the event loop's own thread: one short commit for the whole batch. A
                # worker thread would wait for the GIL behind the busy loop (up to the 5 ms
                # switch interval, several times per commit) and hold every waiting request.
                self.appender.append(events)
        except Exception as exc:  # every waiter learns its events were not written
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        except asyncio.CancelledError:  # stopping mid-commit: whether it was made is unknown
            for _, future in batch:
                if not future.done():
                    future.cancel()
            raise
        self.batches += 1
        for _, future in batch:
            if not future.done():
                future.set_result(None)
