"""emitter: the group's signing claims, watermark, lease and instances

Revision ID: emitter_0002
Revises: emitter_0001
Create Date: 2026-12-08
"""

import sqlalchemy as sa
from alembic import op

revision = "emitter_0002"
down_revision = "emitter_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pool_signer",
        sa.Column("producer", sa.String(12), primary_key=True),
        sa.Column("watermark", sa.BigInteger(), nullable=False),
        sa.Column("ceiling", sa.BigInteger(), nullable=True),
        sa.Column("chain_slot", sa.BigInteger(), nullable=True),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "pool_claim",
        sa.Column("producer", sa.String(12), nullable=False),
        sa.Column("slot", sa.BigInteger(), nullable=False, autoincrement=False),
        sa.Column("digest", sa.String(64), nullable=True),
        sa.Column("block_id", sa.String(64), nullable=True),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("builder", sa.String(12), nullable=True),
        sa.Column("instance", sa.String(128), nullable=False),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        sa.Column("claimed_ms", sa.BigInteger(), nullable=False),
        # UNIQUE (producer, slot): one decision per slot, whatever the watermark says.
        sa.PrimaryKeyConstraint("producer", "slot", name="pk_pool_claim"),
    )
    op.create_table(
        "pool_lease",
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("holder", sa.String(128), nullable=True),
        sa.Column("holder_url", sa.String(512), nullable=True),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        sa.Column("expires_ms", sa.BigInteger(), nullable=False),
        sa.Column("renewed_ms", sa.BigInteger(), nullable=False),
        sa.Column("generation", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "pool_instance",
        sa.Column("instance", sa.String(128), primary_key=True),
        sa.Column("url", sa.String(512), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_ms", sa.BigInteger(), nullable=False),
        sa.Column("seen_ms", sa.BigInteger(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("pool_instance")
    op.drop_table("pool_lease")
    op.drop_table("pool_claim")
    op.drop_table("pool_signer")
