"""dac: constitution, parameters, proposals, ballots, disputes, epochs, statements, transfers

Revision ID: dac_0001
Revises:
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "dac_0001"
down_revision = None
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "dac_constitution",
        sa.Column("version", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("adopted_ms", sa.BigInteger(), nullable=False),
        sa.Column("proposal_id", sa.Integer(), nullable=True),
    )
    op.create_table(
        "dac_constitution_signature",
        sa.Column("member", sa.String(12), primary_key=True),
        sa.Column("version", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("signature", sa.String(128), nullable=False),
        sa.Column("ts_ms", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "dac_parameter",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
        sa.Column("proposal_id", sa.Integer(), nullable=True),
    )
    op.create_table(
        "dac_proposal",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("proposer", sa.String(12), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("vote_start_ms", sa.BigInteger(), nullable=False),
        sa.Column("vote_end_ms", sa.BigInteger(), nullable=False),
        sa.Column("eta_ms", sa.BigInteger(), nullable=True),
        sa.Column("executed_ms", sa.BigInteger(), nullable=True),
        sa.Column("canceled", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("result", sa.Text(), nullable=True),
        sa.Column("dispute_id", sa.Integer(), nullable=True),
    )
    op.create_index("ix_dac_proposal_state", "dac_proposal", ["state"])
    op.create_table(
        "dac_ballot",
        sa.Column("proposal_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("voter", sa.String(12), primary_key=True),
        sa.Column("choice", sa.String(8), nullable=False),
        sa.Column("weight", sa.BigInteger(), nullable=False),
        sa.Column("ts_ms", sa.BigInteger(), nullable=False),
        sa.Column("signature", sa.String(128), nullable=False),
    )
    op.create_table(
        "dac_dispute",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("filer", sa.String(12), nullable=False),
        sa.Column("against", sa.String(12), nullable=False),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        sa.Column("evidence", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("ruling", sa.Text(), nullable=True),
        sa.Column("proposal_id", sa.Integer(), nullable=True),
    )
    op.create_table(
        "dac_penalty",
        sa.Column("epoch", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("member", sa.String(12), primary_key=True),
        sa.Column("penalty_bps", sa.Integer(), nullable=False),
        sa.Column("dispute_id", sa.Integer(), nullable=True),
    )
    op.create_table(
        "dac_epoch",
        sa.Column("epoch", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("start_slot", sa.BigInteger(), nullable=False),
        sa.Column("end_slot", sa.BigInteger(), nullable=False),
        sa.Column("earnings", sa.BigInteger(), nullable=False),
        sa.Column("treasury", sa.BigInteger(), nullable=False),
        sa.Column("root", sa.String(64), nullable=False),
        sa.Column("signature", sa.String(128), nullable=False),
        sa.Column("header", sa.Text(), nullable=False),
        sa.Column("closed_ms", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
    )
    op.create_table(
        "dac_statement_row",
        sa.Column("epoch", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("member", sa.String(12), primary_key=True),
        sa.Column("idx", sa.Integer(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("row", sa.Text(), nullable=False),
    )
    op.create_table(
        "dac_transfer",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("ref", sa.BigInteger(), nullable=False),
        sa.Column("recipient", sa.String(12), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("nonce", sa.BigInteger(), nullable=False, unique=True),
        sa.Column("expiration", sa.BigInteger(), nullable=False),
        sa.Column("tx_id", sa.String(64), nullable=False),
        sa.Column("tx", sa.Text(), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
        sa.UniqueConstraint("kind", "ref", "recipient", name="uq_dac_transfer_once"),
    )
    op.create_index("ix_dac_transfer_status", "dac_transfer", ["status"])


def downgrade() -> None:
    for table in (
        "dac_transfer",
        "dac_statement_row",
        "dac_epoch",
        "dac_penalty",
        "dac_dispute",
        "dac_ballot",
        "dac_proposal",
        "dac_parameter",
        "dac_constitution_signature",
        "dac_constitution",
    ):
        op.drop_table(table)
