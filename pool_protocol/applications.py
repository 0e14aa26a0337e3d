"""A producer's signed application to join a pool, under ``bppool/application/v1``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chain.core.codec import canonical_bytes_trusted
from chain.core.crypto import PrivateKey, verify_signature
from chain.core.errors import MalformedInput
from chain.core.types import (
    validate_account_name,
    validate_hash,
    validate_int,
    validate_object,
    validate_public_key,
    validate_signature,
    validate_str,
)
from pool_protocol.domains import DOMAIN_APPLICATION


@dataclass(frozen=True)
class Application:
    """A producer's application to join a pool, signed with its account key."""

    chain_id: str
    pool: str
    account: str
    public_key: str
    endpoint: str
    constitution_hash: str
    timestamp: int
    signature: str = ""

    def body(self) -> dict[str, Any]:
        return {
            "chain_id": self.chain_id,
            "pool": self.pool,
            "account": self.account,
            "public_key": self.public_key,
            "endpoint": self.endpoint,
            "constitution_hash": self.constitution_hash,
            "timestamp": self.timestamp,
        }

    def to_dict(self) -> dict[str, Any]:
        return {**self.body(), "signature": self.signature}

    def signed(self, key: PrivateKey) -> Application:
        data = self.body()
        return Application(**data, signature=key.sign(DOMAIN_APPLICATION, canonical_bytes_trusted(data)))

    def verify(self) -> bool:
        """True when the application is signed by its own ``public_key``."""
        return verify_signature(
            self.public_key, DOMAIN_APPLICATION, canonical_bytes_trusted(self.body()), self.signature
        )

    @classmethod
    def from_dict(cls, data: Any) -> Application:
        fields = {
            "chain_id",
            "pool",
            "account",
            "public_key",
            "endpoint",
            "constitution_hash",
            "timestamp",
            "signature",
        }
        validate_object(data, "application", fields, fields)
        try:
            return cls(
                chain_id=validate_hash(data["chain_id"], "chain_id"),
                pool=validate_account_name(data["pool"], "pool"),
                account=validate_account_name(data["account"], "account"),
                public_key=validate_public_key(data["public_key"], "public_key"),
                endpoint=validate_str(data["endpoint"], "endpoint", max_length=512),
                constitution_hash=validate_hash(data["constitution_hash"], "constitution_hash"),
                timestamp=validate_int(data["timestamp"], "timestamp", maximum=2**53),
                signature=validate_signature(data["signature"]),
            )
        except MalformedInput:
            raise
