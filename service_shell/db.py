"""Database plumbing shared by the services: engines and Alembic migrations.

SQLite is the default everywhere (a file under the data directory); PostgreSQL is used when
a ``postgresql://`` URL is given. Each package keeps its own Alembic scripts and version
table, so several services can share one PostgreSQL database.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
from pathlib import Path
from typing import IO

from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlmodel import create_engine

log = logging.getLogger("bppool.db")


def sqlite_url(path: Path) -> str:
    """The SQLAlchemy URL of a SQLite file (its folder is created)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


def normalize_url(url: str) -> str:
    """Use psycopg 3 for ``postgresql://`` URLs."""
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url[len("postgresql://") :]
    if url.startswith("postgres://"):
        return "postgresql+psycopg://" + url[len("postgres://") :]
    return url


def make_engine(url: str, *, background_checkpoints: bool = False) -> Engine:
    """An engine for ``url``; SQLite files get WAL with ``synchronous=NORMAL`` and foreign keys.

    In WAL mode ``NORMAL`` keeps every committed transaction across a crash of the process
    (the commit is in the log file); only a power loss or an OS crash can lose the last
    commits, which a node re-syncs from its peers and which cannot make the emitter emit twice
    for one slot (a slot is long over before a machine reboots). ``FULL`` would fsync on every
    commit, the largest single cost on the emission path. See docs/operations.md.

    With ``background_checkpoints`` the commits never copy the log back into the database
    themselves (SQLite's automatic checkpoint, with its fsync, would land on whichever block
    or emission happened to fill the log): the service runs a :class:`WalCheckpointer`
    instead. A large automatic threshold stays as a safety net.
    """
    url = normalize_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        autocheckpoint = BACKGROUND_AUTOCHECKPOINT_PAGES if background_checkpoints else 1000

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection, _record):  # type: ignore[no-untyped-def]
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA wal_autocheckpoint={autocheckpoint}")
            cursor.close()

        return engine
    # Every network read is bounded: a database that stops answering (a split network, a
    # failover) fails the statement within seconds instead of holding the service. Settings
    # given in the URL's query win.
    given = make_url(url).query
    connect_args = {k: v for k, v in PG_CONNECT_BOUNDS.items() if k not in given}
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20, connect_args=connect_args)


PG_CONNECT_BOUNDS: dict[str, int] = {
    "connect_timeout": 3,
    "keepalives": 1,
    "keepalives_idle": 2,
    "keepalives_interval": 1,
    "keepalives_count": 3,
    "tcp_user_timeout": 5000,
}
"""libpq's bounds on a PostgreSQL connection: connecting, and how long unanswered data and a
silent peer are tolerated (about 5 s), see docs/group.md."""


BACKGROUND_AUTOCHECKPOINT_PAGES = 25_000  # ~100 MB of log: only if the checkpointer stalls


class WalCheckpointer:
    """Checkpoints a SQLite database's write-ahead log every ``interval_s`` from a worker
    thread (SQLite does the copying and the fsync without holding the GIL), off the path of
    the service's requests. Does nothing for other databases."""

    def __init__(self, engine: Engine, interval_s: float = 1.0) -> None:
        self.engine = engine
        self.interval_s = interval_s
        self.enabled = engine.dialect.name == "sqlite"

    def checkpoint(self) -> None:
        with self.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")

    async def run(self) -> None:
        """Checkpoint forever (cancel the task to stop)."""
        if not self.enabled:
            return
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                await asyncio.to_thread(self.checkpoint)
            except Exception as exc:  # a busy database or a full disk: try again later
                log.warning("WAL checkpoint failed: %s", exc)


MIGRATION_LOCK = 0x6270706F6F6C  # "bppool": the key of the migrations' advisory lock


def run_migrations(engine: Engine, script_location: Path, version_table: str) -> None:
    """Upgrade the database behind ``engine`` to the newest revision of one package.

    On PostgreSQL the upgrade holds a transaction-scoped advisory lock: several instances of a
    group starting at once upgrade one after the other (the lock goes with the transaction,
    however the process ends)."""
    config = Config()
    config.set_main_option("script_location", str(script_location))
    config.attributes["version_table"] = version_table
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def is_postgres(engine: Engine) -> bool:
    """True for a PostgreSQL engine."""
    return engine.dialect.name == "postgresql"


# --- one instance per SQLite file ----------------------------------------------------------------


class DatabaseInUse(Exception):
    """Another process holds the SQLite database a single-instance service was started on."""


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite ``url`` (``None`` for other databases and in-memory ones)."""
    parsed = make_url(normalize_url(url))
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database).resolve()


class InstanceLock:
    """An exclusive lock that only one process at a time holds on a SQLite database: the
    advisory ``flock`` of ``<database>.lock``, which the kernel releases when the process ends,
    however it ends (kill -9 included), so a lock is never stale. The holder's pid is written
    in the file to name it in the refusal."""

    def __init__(self, url: str, *, what: str) -> None:
        self.path = sqlite_file(url)
        self.what = what
        self._file: IO[str] | None = None

    @property
    def held(self) -> bool:
        """This instance holds the lock (always true for databases that need none)."""
        return self.path is None or self._file is not None

    def acquire(self) -> None:
        """Take the lock (a no-op when held, or for a database other than a SQLite file); raise
        :class:`DatabaseInUse` naming the holder when another process has it."""
        if self.held or self.path is None:
            return
        lock_path = self.path.with_name(self.path.name + ".lock")
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        # Held through a read-only descriptor: a file open for writing would keep the file system
        # from being remounted read-only under the service (which it must survive).
        try:
            handle = open(os.open(lock_path, os.O_RDONLY | os.O_CREAT, 0o644))  # noqa: SIM115 - kept open
        except OSError as exc:
            # A database on a read-only file system is a storage state the service waits out
            # (and it cannot be written by a second instance either): run, and say so.
            log.warning("cannot take the instance lock %s: %s", lock_path, exc)
            return
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = handle.read().strip() or "unknown"
            handle.close()
            raise DatabaseInUse(
                f"{self.path} is in use by another {self.what} (pid {holder}): on SQLite it runs as "
                "a single instance; stop the other one, or give each its own database "
                "(several instances share one PostgreSQL database)"
            ) from None
        lock_path.write_text(f"{os.getpid()}\n")  # the holder's name, for the next one's refusal
        self._file = handle

    def release(self) -> None:
        """Let the lock go (closing the file releases the ``flock``)."""
        if self._file is not None:
            self._file.close()
            self._file = None
