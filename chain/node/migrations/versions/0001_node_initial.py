"""node: blocks and metadata

Revision ID: node_0001
Revises:
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "node_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "node_block",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("height", sa.BigInteger(), nullable=False),
        sa.Column("slot", sa.BigInteger(), nullable=False),
        sa.Column("prev_id", sa.String(64), nullable=False),
        sa.Column("producer", sa.String(12), nullable=False),
        sa.Column("canonical", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("checksum", sa.String(64), nullable=False),
        sa.Column("received_ms", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_node_block_height", "node_block", ["height"])
    op.create_index("ix_node_block_canonical", "node_block", ["canonical"])
    op.create_table(
        "node_meta",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("node_meta")
    op.drop_index("ix_node_block_canonical", "node_block")
    op.drop_index("ix_node_block_height", "node_block")
    op.drop_table("node_block")
