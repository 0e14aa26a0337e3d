"""The state of the pool service's storage: working, or failing with the error that says why.

A full disk, a file system remounted read-only or a database turned read-only make writes
fail. That is a state the service is in, not a crash: the write that failed answers members
``503 storage_unavailable`` (nothing unwritten is acknowledged), readiness answers 503 naming
the error, ``bppool_emitter_storage_ok`` is 0, and one log line marks each change. While
failing, the service probes with a real write every second (on fresh connections, so that a
database turned writable again is seen) and leaves the state on its own when one succeeds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlalchemy.engine.url import make_url
from sqlalchemy.exc import DBAPIError, IntegrityError

from emitter.errors import StorageUnavailable

log = logging.getLogger("bppool.emitter")

PROBE_INTERVAL_S = 1.0
# A SQLite file's directory must take this much (an emitted block with its log entries is
# well under it) for the storage to count as working again.
PROBE_BYTES = 1 << 20

__all__ = ["StorageState", "StorageUnavailable"]


class StorageState:
    """Whether the storage behind ``engine`` works, from the outcome of its writes."""

    def __init__(self, engine: Engine, version_table: str) -> None:
        self.engine = engine
        self.version_table = version_table
        dbapi = engine.dialect.loaded_dbapi
        self._driver_errors: type[BaseException] = dbapi.Error
        self._driver_integrity: type[BaseException] = dbapi.IntegrityError
        database = make_url(engine.url).database if engine.dialect.name == "sqlite" else None
        self.sqlite_dir = Path(database).resolve().parent if database and database != ":memory:" else None
        self.error: str | None = None
        self.errors = 0  # writes refused by the storage, since start
        self.listeners: list[Callable[[bool], None]] = []

    @property
    def ok(self) -> bool:
        return self.error is None

    def describe(self) -> str:
        """``ok`` or ``error: <why>`` (readiness shows it)."""
        return "ok" if self.error is None else f"error: {self.error}"

    def is_storage_error(self, exc: BaseException) -> bool:
        """An error of the storage (not of the data: a unique key says no by design)."""
        if isinstance(exc, IntegrityError | self._driver_integrity):
            return False
        return isinstance(exc, DBAPIError | self._driver_errors | OSError)

    def failed(self, exc: BaseException) -> None:
        """A write failed because of the storage."""
        self.errors += 1
        message = _first_line(exc)
        if self.error is None:
            log.error("storage failing: %s (writes are refused until it works again)", message)
            self._notify(False)
        self.error = message

    def succeeded(self) -> None:
        """A write went through. What depends on the storage hears it first (``listeners``,
        in this thread), so that it has caught up once the state says the storage works."""
        if self.error is not None:
            log.warning("storage works again (it failed with: %s)", self.error)
            self._notify(True)
            self.error = None

    def _notify(self, ok: bool) -> None:
        for listener in self.listeners:
            try:
                listener(ok)
            except Exception:  # a listener's failure is its own, never the storage state's
                log.exception("storage listener failed")

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        """Around a write: a storage error becomes :class:`StorageUnavailable` (and the state).

        Only the probe ends the state: on a full disk a small write may still go through
        (SQLite reuses its log file) while an emission would not."""
        try:
            yield
        except StorageUnavailable:
            raise
        except Exception as exc:
            if not self.is_storage_error(exc):
                raise
            self.failed(exc)
            raise StorageUnavailable(self.error or "unknown error") from exc

    def probe(self) -> None:
        """One real write that changes nothing (raises what the storage says)."""
        if self.sqlite_dir is not None:
            # The database's file system takes a block's worth of bytes (SQLite reuses its log
            # file, so a small write can succeed on a full disk while an emission would not).
            probe = self.sqlite_dir / f".storage-probe-{os.getpid()}"
            try:
                with open(probe, "wb") as f:
                    f.write(b"\0" * PROBE_BYTES)
                    f.flush()
                    os.fsync(f.fileno())
            finally:
                with contextlib.suppress(OSError):
                    probe.unlink()
        with self.engine.begin() as conn:
            conn.exec_driver_sql(
                f"UPDATE {self.version_table} SET version_num = version_num"  # noqa: S608 - a constant
            )

    def check(self) -> bool:
        """Probe now (on fresh connections) and update the state; returns whether it works."""
        # Connections opened while the database refused writes may keep refusing them (a
        # session of a database turned read-only stays read-only): probe on new ones.
        self.engine.dispose()
        try:
            with self.writing():
                self.probe()
        except StorageUnavailable:
            return False
        self.succeeded()
        return True

    async def watch(self, interval_s: float = PROBE_INTERVAL_S) -> None:
        """While the storage fails, probe it every ``interval_s`` (cancel to stop)."""
        while True:
            await asyncio.sleep(interval_s)
            if self.ok:
                continue
            try:
                await asyncio.to_thread(self.check)
            except Exception:  # never let the watch end: it is what brings the service back
                log.exception("storage probe failed unexpectedly")


def _first_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc).strip().splitlines()
    return f"{type(orig or exc).__name__}: {text[0] if text else ''}".rstrip(": ")
