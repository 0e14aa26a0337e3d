"""emitter: the emitted blocks' bytes compressed with lz4 on PostgreSQL

An emission's block (about 170 kB for 500 transactions) is written on the path of every
emission; PostgreSQL's default TOAST compression (pglz) of it costs about 2 ms of that path,
lz4 a fraction of it. A server built without lz4 keeps pglz.

Revision ID: emitter_0003
Revises: emitter_0002
Create Date: 2026-12-08
"""

import sqlalchemy as sa
from alembic import op

revision = "emitter_0003"
down_revision = "emitter_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    try:
        with bind.begin_nested():
            bind.execute(sa.text("ALTER TABLE pool_emission ALTER COLUMN data SET COMPRESSION lz4"))
    except sa.exc.DBAPIError:
        pass  # no lz4 in this server: pglz stays


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        bind.execute(sa.text("ALTER TABLE pool_emission ALTER COLUMN data SET COMPRESSION pglz"))
