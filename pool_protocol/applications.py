"""A producer's signed application to join a pool, under ``bppool/application/v1``.

Spec: ``docs/spec/pool.md`` §3 (a member's life).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

from chain.core.types import (
    validate_account_name,
    validate_hash,
    validate_public_key,
    validate_signature,
    validate_str,
)
from pool_protocol.domains import DOMAIN_APPLICATION
from pool_protocol.signed import Parser, SignedDocument, integer


@dataclass(frozen=True)
class Application(SignedDocument):
    """A producer's application to join a pool, signed with its account key."""

    DOMAIN: ClassVar[bytes] = DOMAIN_APPLICATION
    KIND: ClassVar[str] = "application"
    PARSERS: ClassVar[Mapping[str, Parser]] = {
        "chain_id": validate_hash,
        "pool": validate_account_name,
        "account": validate_account_name,
        "public_key": validate_public_key,
        "endpoint": lambda value, where: validate_str(value, where, max_length=512),
        "constitution_hash": validate_hash,
        "timestamp": integer(0, 2**53),
        "signature": validate_signature,
    }

    chain_id: str
    pool: str
    account: str
    public_key: str
    endpoint: str
    constitution_hash: str
    timestamp: int
    signature: str = ""

    def verify(self, public_key: str | None = None) -> bool:
        """True when the application is signed by its own ``public_key`` (or the one given)."""
        return super().verify(self.public_key if public_key is None else public_key)
