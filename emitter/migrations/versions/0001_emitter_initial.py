"""emitter: members, event log, emissions, evidence

Revision ID: emitter_0001
Revises:
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "emitter_0001"
down_revision = None
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "pool_member",
        sa.Column("account", sa.String(12), primary_key=True),
        sa.Column("public_key", sa.String(64), nullable=False),
        sa.Column("endpoint", sa.String(512), nullable=False, server_default=""),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("constitution_hash", sa.String(64), nullable=False),
        sa.Column("application_signature", sa.String(128), nullable=False),
        sa.Column("applied_ms", sa.BigInteger(), nullable=False),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_pool_member_status", "pool_member", ["status"])
    op.create_table(
        "pool_event",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("ts_ms", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("slot", sa.BigInteger(), nullable=True),
        sa.Column("member", sa.String(12), nullable=True),
        sa.Column("block_id", sa.String(64), nullable=True),
        sa.Column("offset_ms", sa.BigInteger(), nullable=True),
        sa.Column("verdict", sa.String(32), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("fees", sa.BigInteger(), nullable=True),
        sa.Column("tx_count", sa.Integer(), nullable=True),
        sa.Column("data", sa.Text(), nullable=True),
    )
    op.create_index("ix_pool_event_slot", "pool_event", ["slot"])
    op.create_index("ix_pool_event_member", "pool_event", ["member"])
    op.create_index("ix_pool_event_kind_slot", "pool_event", ["kind", "slot"])
    op.create_table(
        "pool_emission",
        sa.Column("slot", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("block_id", sa.String(64), nullable=False),
        sa.Column("height", sa.BigInteger(), nullable=False),
        sa.Column("builder", sa.String(12), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("emitted_ms", sa.BigInteger(), nullable=False),
        sa.Column("fees", sa.BigInteger(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("accepted_by", sa.String(256), nullable=True),
    )
    op.create_table(
        "pool_evidence",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("slot", sa.BigInteger(), nullable=False),
        sa.Column("member", sa.String(12), nullable=False),
        sa.Column("block_id", sa.String(64), nullable=False),
        sa.Column("ts_ms", sa.BigInteger(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
    )
    op.create_index("ix_pool_evidence_slot", "pool_evidence", ["slot"])


def downgrade() -> None:
    op.drop_table("pool_evidence")
    op.drop_table("pool_emission")
    op.drop_table("pool_event")
    op.drop_table("pool_member")
