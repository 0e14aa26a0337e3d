"""Alembic environment of the emitter (pool service)."""

from sqlmodel import SQLModel

import emitter.models  # noqa: F401  (registers the emitter tables on SQLModel.metadata)
from service_shell.migrations_env import run_env

run_env(SQLModel.metadata, "alembic_version_emitter")
