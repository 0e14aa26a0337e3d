"""Alembic environment of the chain node."""

from sqlmodel import SQLModel

import chain.node.models  # noqa: F401  (registers the node tables on SQLModel.metadata)
from service_shell.migrations_env import run_env

run_env(SQLModel.metadata, "alembic_version_node")
