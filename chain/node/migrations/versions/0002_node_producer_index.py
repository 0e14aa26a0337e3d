"""node: blocks by producer and slot (the newest block of a producer, fork blocks included)

Revision ID: node_0002
Revises: node_0001
Create Date: 2026-12-08
"""

from alembic import op

revision = "node_0002"
down_revision = "node_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_node_block_producer_slot", "node_block", ["producer", "slot"])


def downgrade() -> None:
    op.drop_index("ix_node_block_producer_slot", table_name="node_block")
