"""The DAC's tables (SQLModel), in the pool service's database next to the emitter's."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

ID = BigInteger().with_variant(Integer, "sqlite")


class Constitution(SQLModel, table=True):
    __tablename__ = "dac_constitution"

    version: int = Field(primary_key=True)
    text: str = Field(sa_column=Column(Text, nullable=False))
    hash: str = Field(max_length=64)
    adopted_ms: int = Field(sa_column=Column(BigInteger, nullable=False))
    proposal_id: int | None = None


class ConstitutionSignatureRow(SQLModel, table=True):
    __tablename__ = "dac_constitution_signature"

    member: str = Field(primary_key=True, max_length=12)
    version: int = Field(primary_key=True)
    hash: str = Field(max_length=64)
    signature: str = Field(max_length=128)
    ts_ms: int = Field(sa_column=Column(BigInteger, nullable=False))


class Parameter(SQLModel, table=True):
    __tablename__ = "dac_parameter"

    name: str = Field(primary_key=True, max_length=64)
    value: str = Field(sa_column=Column(Text, nullable=False))
    updated_ms: int = Field(sa_column=Column(BigInteger, nullable=False))
    proposal_id: int | None = None


class Proposal(SQLModel, table=True):
    __tablename__ = "dac_proposal"

    id: int | None = Field(default=None, sa_column=Column(ID, primary_key=True, autoincrement=True))
    kind: str = Field(max_length=32)
    payload: str = Field(sa_column=Column(Text, nullable=False))
    description: str = Field(default="", sa_column=Column(Text, nullable=False))
    proposer: str = Field(max_length=12)
    created_ms: int = Field(sa_column=Column(BigInteger, nullable=False))
    vote_start_ms: int = Field(sa_column=Column(BigInteger, nullable=False))
    vote_end_ms: int = Field(sa_column=Column(BigInteger, nullable=False))
    eta_ms: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    executed_ms: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    canceled: bool = False
    state: str = Field(default="Pending", max_length=16, index=True)
    result: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    dispute_id: int | None = None


class BallotRow(SQLModel, table=True):
    __tablename__ = "dac_ballot"

    proposal_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    voter: str = Field(primary_key=True, max_length=12)
    choice: str = Field(max_length=8)
    weight: int = Field(sa_column=Column(BigInteger, nullable=False))
    ts_ms: int = Field(sa_column=Column(BigInteger, nullable=False))
    signature: str = Field(max_length=128)


class Dispute(SQLModel, table=True):
    __tablename__ = "dac_dispute"

    id: int | None = Field(default=None, sa_column=Column(ID, primary_key=True, autoincrement=True))
    filer: str = Field(max_length=12)
    against: str = Field(max_length=12)
    epoch: int = Field(sa_column=Column(BigInteger, nullable=False))
    evidence: str = Field(sa_column=Column(Text, nullable=False))
    description: str = Field(sa_column=Column(Text, nullable=False))
    created_ms: int = Field(sa_column=Column(BigInteger, nullable=False))
    status: str = Field(default="open", max_length=16)
    ruling: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    proposal_id: int | None = None


class Penalty(SQLModel, table=True):
    __tablename__ = "dac_penalty"

    epoch: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    member: str = Field(primary_key=True, max_length=12)
    penalty_bps: int
    dispute_id: int | None = None


class Epoch(SQLModel, table=True):
    __tablename__ = "dac_epoch"

    epoch: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    start_slot: int = Field(sa_column=Column(BigInteger, nullable=False))
    end_slot: int = Field(sa_column=Column(BigInteger, nullable=False))
    earnings: int = Field(sa_column=Column(BigInteger, nullable=False))
    treasury: int = Field(sa_column=Column(BigInteger, nullable=False))
    root: str = Field(max_length=64)
    signature: str = Field(max_length=128)
    header: str = Field(sa_column=Column(Text, nullable=False))
    closed_ms: int = Field(sa_column=Column(BigInteger, nullable=False))
    status: str = Field(default="closed", max_length=16)


class StatementRow(SQLModel, table=True):
    __tablename__ = "dac_statement_row"

    epoch: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    member: str = Field(primary_key=True, max_length=12)
    idx: int
    amount: int = Field(sa_column=Column(BigInteger, nullable=False))
    row: str = Field(sa_column=Column(Text, nullable=False))


class Transfer(SQLModel, table=True):
    """A transfer from the pool account: a payout (one per member per epoch) or a treasury
    spend (one per proposal). Signed with its nonce and recorded before it is sent."""

    __tablename__ = "dac_transfer"
    __table_args__ = (
        UniqueConstraint("kind", "ref", "recipient", name="uq_dac_transfer_once"),
        Index("ix_dac_transfer_status", "status"),
    )

    id: int | None = Field(default=None, sa_column=Column(ID, primary_key=True, autoincrement=True))
    kind: str = Field(max_length=8)
    ref: int = Field(sa_column=Column(BigInteger, nullable=False))
    recipient: str = Field(max_length=12)
    amount: int = Field(sa_column=Column(BigInteger, nullable=False))
    nonce: int = Field(sa_column=Column(BigInteger, nullable=False, unique=True))
    expiration: int = Field(sa_column=Column(BigInteger, nullable=False))
    tx_id: str = Field(max_length=64)
    tx: str = Field(sa_column=Column(Text, nullable=False))
    status: str = Field(default="signed", max_length=12)
    created_ms: int = Field(sa_column=Column(BigInteger, nullable=False))
    updated_ms: int = Field(sa_column=Column(BigInteger, nullable=False))
