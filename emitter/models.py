"""The pool service's emitter tables (SQLModel): members, the event log, emissions, evidence,
and the group's signing claims, watermark, lease and instances.

The event log (``pool_event``) is append-only: every arrival, emission, slot outcome and
membership change, in order. The DAC and auditors read it; nothing ever updates a row.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, LargeBinary, Text
from sqlmodel import Field, SQLModel


class Member(SQLModel, table=True):
    """A producer that applied to the pool, with its status."""

    __tablename__ = "pool_member"

    account: str = Field(primary_key=True, max_length=12)
    public_key: str = Field(max_length=64)
    endpoint: str = Field(default="", max_length=512)
    status: str = Field(default="applied", max_length=16, index=True)
    constitution_hash: str = Field(max_length=64)
    application_signature: str = Field(max_length=128)
    applied_ms: int = Field(sa_column=Column(BigInteger, nullable=False))
    updated_ms: int = Field(sa_column=Column(BigInteger, nullable=False))


class PoolEvent(SQLModel, table=True):
    """One line of the append-only event log."""

    __tablename__ = "pool_event"
    __table_args__ = (Index("ix_pool_event_kind_slot", "kind", "slot"),)

    # BIGINT on PostgreSQL; INTEGER on SQLite, where only that is the autoincrementing rowid.
    id: int | None = Field(
        default=None,
        sa_column=Column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    )
    ts_ms: int = Field(sa_column=Column(BigInteger, nullable=False))
    kind: str = Field(max_length=16)
    slot: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True, index=True))
    member: str | None = Field(default=None, max_length=12, index=True)
    block_id: str | None = Field(default=None, max_length=64)
    offset_ms: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    verdict: str | None = Field(default=None, max_length=32)
    reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    fees: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    tx_count: int | None = None
    data: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class Emission(SQLModel, table=True):
    """The one block emitted for a pool slot (the primary key makes it one, ever)."""

    __tablename__ = "pool_emission"

    slot: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    block_id: str = Field(max_length=64)
    height: int = Field(sa_column=Column(BigInteger, nullable=False))
    builder: str = Field(max_length=12)
    source: str = Field(max_length=16)
    emitted_ms: int = Field(sa_column=Column(BigInteger, nullable=False))
    fees: int = Field(sa_column=Column(BigInteger, nullable=False))
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    accepted_by: str | None = Field(default=None, max_length=256)


class Evidence(SQLModel, table=True):
    """A candidate kept as evidence (both sides of an equivocation)."""

    __tablename__ = "pool_evidence"

    id: int | None = Field(default=None, primary_key=True)
    slot: int = Field(sa_column=Column(BigInteger, nullable=False, index=True))
    member: str = Field(max_length=12)
    block_id: str = Field(max_length=64)
    ts_ms: int = Field(sa_column=Column(BigInteger, nullable=False))
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


# --- the emitter group: what keeps the pool key from signing twice ------------------------------


class Signer(SQLModel, table=True):
    """The pool key's signing watermark: the highest slot claimed (or known signed on the
    chain), which only rises, and the operator's ceiling, above which nothing is claimed."""

    __tablename__ = "pool_signer"

    producer: str = Field(primary_key=True, max_length=12)
    watermark: int = Field(sa_column=Column(BigInteger, nullable=False))
    ceiling: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    chain_slot: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    updated_ms: int = Field(sa_column=Column(BigInteger, nullable=False))


class Claim(SQLModel, table=True):
    """The one decision for a (producer, slot), committed before the pool key signs anything
    for it: the digest it may sign (none for a missed slot), by which instance and epoch."""

    __tablename__ = "pool_claim"

    # The primary key is the UNIQUE (producer, slot) the claim stands on: never drop it.
    producer: str = Field(primary_key=True, max_length=12)
    slot: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    digest: str | None = Field(default=None, max_length=64)
    block_id: str | None = Field(default=None, max_length=64)
    source: str = Field(max_length=16)
    builder: str | None = Field(default=None, max_length=12)
    instance: str = Field(max_length=128)
    epoch: int = Field(sa_column=Column(BigInteger, nullable=False))
    claimed_ms: int = Field(sa_column=Column(BigInteger, nullable=False))


class Lease(SQLModel, table=True):
    """The group's lease: the instance that runs fallbacks, the DAC's jobs and admin writes,
    with its fencing epoch and an expiry on the database's clock; ``generation`` rises with
    every change of shared state (members, parameters, constitution) for the others to reload."""

    __tablename__ = "pool_lease"

    name: str = Field(primary_key=True, max_length=32)
    holder: str | None = Field(default=None, max_length=128)
    holder_url: str | None = Field(default=None, max_length=512)
    epoch: int = Field(sa_column=Column(BigInteger, nullable=False))
    expires_ms: int = Field(sa_column=Column(BigInteger, nullable=False))
    renewed_ms: int = Field(sa_column=Column(BigInteger, nullable=False))
    generation: int = Field(sa_column=Column(BigInteger, nullable=False))


class Instance(SQLModel, table=True):
    """An instance of the pool service on this database (the group's members), with when it
    was last seen on the database's clock."""

    __tablename__ = "pool_instance"

    instance: str = Field(primary_key=True, max_length=128)
    url: str = Field(max_length=512)
    pid: int
    started_ms: int = Field(sa_column=Column(BigInteger, nullable=False))
    seen_ms: int = Field(sa_column=Column(BigInteger, nullable=False))
