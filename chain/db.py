"""Database plumbing shared by the services: engines and Alembic migrations.

SQLite is the default everywhere (a file under the data directory); PostgreSQL is used when
a ``postgresql://`` URL is given. Each package keeps its own Alembic scripts and version
table, so several services can share one PostgreSQL database.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import create_engine


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


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite files get WAL with ``synchronous=NORMAL`` and foreign keys.

    In WAL mode ``NORMAL`` keeps every committed transaction across a crash of the process
    (the commit is in the log file); only a power loss or an OS crash can lose the last
    commits, which a node re-syncs from its peers and which cannot make the emitter emit twice
    for one slot (a slot is long over before a machine reboots). ``FULL`` would fsync on every
    commit, the largest single cost on the emission path. See docs/operations.md.
    """
    url = normalize_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection, _record):  # type: ignore[no-untyped-def]
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


def run_migrations(engine: Engine, script_location: Path, version_table: str) -> None:
    """Upgrade the database behind ``engine`` to the newest revision of one package."""
    config = Config()
    config.set_main_option("script_location", str(script_location))
    config.attributes["version_table"] = version_table
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def is_postgres(engine: Engine) -> bool:
    """True for a PostgreSQL engine."""
    return engine.dialect.name == "postgresql"
