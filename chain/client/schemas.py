"""The chain's wire objects as pydantic models, for the OpenAPI document of any service that
takes or answers them (the node, the pool service). Routes parse bodies themselves; these
models document them (see :mod:`service_shell.apidocs`)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from chain.core.types import ACCOUNT_NAME_PATTERN, HASH_PATTERN, SIGNATURE_PATTERN
from service_shell.apidocs import Open
from service_shell.web import Int64

__all__ = ["Action", "Block", "BlockHeader", "Transaction"]


class Action(Open):
    """A transaction's action: ``type`` and the fields of that type (``transfer``, ``stake``, ...)."""

    type: str


class Transaction(BaseModel):
    """A signed transaction (canonical JSON; the id is the sha256 of the body without signature)."""

    chain_id: str = Field(pattern=HASH_PATTERN)
    sender: str = Field(pattern=ACCOUNT_NAME_PATTERN)
    nonce: Int64
    fee: Int64
    expiration: Int64
    action: Action
    signature: str = Field(pattern=SIGNATURE_PATTERN)


class BlockHeader(BaseModel):
    """A block header."""

    chain_id: str = Field(pattern=HASH_PATTERN)
    height: Int64
    slot: Int64
    prev_id: str = Field(pattern=HASH_PATTERN)
    timestamp: Int64
    producer: str = Field(pattern=ACCOUNT_NAME_PATTERN)
    builder: str = Field(pattern=ACCOUNT_NAME_PATTERN)
    tx_root: str = Field(pattern=HASH_PATTERN)
    state_root: str = Field(pattern=HASH_PATTERN)


class Block(BaseModel):
    """A block: header, transactions, the producer's signature (and the builder's, when a pool
    member built it; null otherwise)."""

    header: BlockHeader
    transactions: list[Transaction]
    producer_signature: str | None = None
    builder_signature: str | None = None
