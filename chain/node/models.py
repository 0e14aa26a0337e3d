"""The node's tables: blocks as received (with a checksum) and node metadata."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, LargeBinary
from sqlmodel import Field, SQLModel


class BlockRow(SQLModel, table=True):
    """A block the node accepted, as its canonical JSON bytes and their sha256."""

    __tablename__ = "node_block"
    __table_args__ = (Index("ix_node_block_producer_slot", "producer", "slot"),)

    id: str = Field(primary_key=True, max_length=64)
    height: int = Field(sa_column=Column(BigInteger, nullable=False, index=True))
    slot: int = Field(sa_column=Column(BigInteger, nullable=False))
    prev_id: str = Field(max_length=64)
    producer: str = Field(max_length=12)
    canonical: bool = Field(default=False, index=True)
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    checksum: str = Field(max_length=64)
    received_ms: int = Field(sa_column=Column(BigInteger, nullable=False))


class NodeMeta(SQLModel, table=True):
    """Key-value metadata: the chain id the store belongs to, the last produced slot."""

    __tablename__ = "node_meta"

    key: str = Field(primary_key=True, max_length=64)
    value: str
