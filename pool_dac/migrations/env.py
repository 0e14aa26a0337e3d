"""Alembic environment of the DAC."""

from sqlmodel import SQLModel

import pool_dac.models  # noqa: F401  (registers the DAC tables on SQLModel.metadata)
from service_shell.migrations_env import run_env

run_env(SQLModel.metadata, "alembic_version_dac")
