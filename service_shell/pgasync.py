"""Writes on PostgreSQL that do not hold the event loop.

A commit on PostgreSQL waits for the WAL to reach the disk (and, with synchronous replication,
a standby): half a millisecond to several. Made with a blocking driver on the event loop's own
thread, that wait holds every other request of the service. :class:`AsyncWriter` makes a
service's hot-path writes (the pool service's event log, claims and emissions) on one psycopg
``AsyncConnection`` instead, so the loop serves other requests while the database commits.
SQLite keeps its blocking writes: its commits (WAL, ``synchronous=NORMAL``) take microseconds.

The statements are the ones SQLAlchemy compiles for the psycopg dialect (``%(name)s``
parameters), so both paths run the same SQL.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import psycopg
from sqlalchemy.engine import make_url

from service_shell.db import PG_CONNECT_BOUNDS, normalize_url

T = TypeVar("T")

__all__ = ["AsyncWriter", "libpq_url"]


def libpq_url(url: str) -> str:
    """``url`` as libpq takes it (``postgresql://``, no SQLAlchemy driver name)."""
    parsed = make_url(normalize_url(url)).set(drivername="postgresql")
    return parsed.render_as_string(hide_password=False)


class AsyncWriter:
    """One connection for one kind of write, used by one transaction at a time; a connection
    that failed is dropped and the next transaction opens a new one.

    A transaction's statements go in psycopg's pipeline mode: ``BEGIN``, the statements and
    ``COMMIT`` leave together and the answers come back together, one round trip to the
    database instead of one per statement. A lone statement (:meth:`run` with
    ``transaction=False``) is its own transaction (the connection is in autocommit mode)."""

    def __init__(self, url: str) -> None:
        self.conninfo = libpq_url(url)
        given = make_url(normalize_url(url)).query
        self.connect_args: dict[str, Any] = {k: v for k, v in PG_CONNECT_BOUNDS.items() if k not in given}
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._lock = asyncio.Lock()

    async def _connection(self) -> psycopg.AsyncConnection[Any]:
        if self._conn is None or self._conn.closed:
            self._conn = await psycopg.AsyncConnection.connect(
                self.conninfo, autocommit=True, **self.connect_args
            )
        return self._conn

    async def run(
        self, work: Callable[[psycopg.AsyncCursor[Any]], Awaitable[T]], *, transaction: bool = True
    ) -> T:
        """Run ``work`` on a cursor, in one pipelined transaction (or, without
        ``transaction``, as lone statements, each its own); whatever fails rolls back (and a
        connection in doubt is dropped) and is raised."""
        async with self._lock:
            conn = await self._connection()
            try:
                if not transaction:
                    async with conn.cursor() as cursor:
                        return await work(cursor)
                async with conn.pipeline(), conn.transaction(), conn.cursor() as cursor:
                    result = await work(cursor)
                return result
            except psycopg.IntegrityError:
                # The data said no (a unique key): the transaction is rolled back, the
                # connection is fine.
                raise
            except BaseException:
                self._conn = None
                with contextlib.suppress(Exception):
                    await conn.close()
                raise

    async def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.close()
            self._conn = None
