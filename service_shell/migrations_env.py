"""The body of every package's Alembic ``env.py``: online migrations on a given connection.

:func:`service_shell.db.run_migrations` passes the connection and the package's version table in
``config.attributes``; running ``alembic`` by hand works too when ``sqlalchemy.url`` is set.
"""

from __future__ import annotations

from typing import Any

from alembic import context
from sqlalchemy import engine_from_config, pool


def run_env(target_metadata: Any, default_version_table: str) -> None:
    """Run the migrations of one package against the configured database."""
    config = context.config
    version_table = config.attributes.get("version_table", default_version_table)
    connection = config.attributes.get("connection")
    if connection is None:
        engine = engine_from_config(
            config.get_section(config.config_ini_section) or {},
            prefix="sqlalchemy.",
            poolclass=pool.NullPool,
        )
        with engine.connect() as conn:
            _run(conn, target_metadata, version_table)
            conn.commit()
        return
    _run(connection, target_metadata, version_table)


def _run(connection: Any, target_metadata: Any, version_table: str) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        version_table=version_table,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()
