"""Signed requests and signed applications of the pool protocol (pure; no clock).

A member request carries ``X-BP-Member``, ``X-BP-Timestamp`` (ms) and ``X-BP-Signature``:
an ed25519 signature under ``bppool/request/v1`` over the canonical JSON of
``{chain_id, pool, method, path, timestamp, body_sha256}``. The chain id and the pool account
bind the signature to one pool on one chain; the timestamp bounds its life; the body hash
binds the body. Servers check them with one verifier (:mod:`chain.requestauth`): every header
in its canonical spelling only (the signature as 128 lowercase hex characters), and a signature
accepted once is refused ever after.

An application to join a pool is a signed document under ``bppool/application/v1``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from .codec import canonical_bytes_trusted
from .crypto import DOMAIN_APPLICATION, DOMAIN_REQUEST, PrivateKey, verify_signature
from .errors import MalformedInput
from .types import (
    validate_account_name,
    validate_hash,
    validate_int,
    validate_object,
    validate_public_key,
    validate_signature,
    validate_str,
)

HEADER_MEMBER = "x-bp-member"
HEADER_TIMESTAMP = "x-bp-timestamp"
HEADER_SIGNATURE = "x-bp-signature"
DEFAULT_REQUEST_SKEW_S = 30
"""How far a signed request's timestamp may be from the server's clock, by default."""


def compute_request_payload(
    *,
    chain_id: str,
    pool: str,
    method: str,
    path: str,
    timestamp: int,
    body: bytes,
    body_sha256: str | None = None,
) -> bytes:
    """The canonical bytes a member signs for one request (``body_sha256``: the body's
    sha256 in hex when the caller has it already)."""
    return canonical_bytes_trusted(
        {
            "chain_id": chain_id,
            "pool": pool,
            "method": method.upper(),
            "path": path,
            "timestamp": timestamp,
            "body_sha256": body_sha256 if body_sha256 is not None else hashlib.sha256(body).hexdigest(),
        }
    )


def sign_request(
    key: PrivateKey,
    *,
    chain_id: str,
    pool: str,
    method: str,
    path: str,
    timestamp: int,
    body: bytes,
    body_sha256: str | None = None,
) -> str:
    """The ``X-BP-Signature`` value for a request."""
    return key.sign(
        DOMAIN_REQUEST,
        compute_request_payload(
            chain_id=chain_id,
            pool=pool,
            method=method,
            path=path,
            timestamp=timestamp,
            body=body,
            body_sha256=body_sha256,
        ),
    )


def request_headers(
    key: PrivateKey,
    member: str,
    *,
    chain_id: str,
    pool: str,
    method: str,
    path: str,
    timestamp: int,
    body: bytes,
    body_sha256: str | None = None,
) -> dict[str, str]:
    """All three authentication headers for a request."""
    return {
        HEADER_MEMBER: member,
        HEADER_TIMESTAMP: str(timestamp),
        HEADER_SIGNATURE: sign_request(
            key,
            chain_id=chain_id,
            pool=pool,
            method=method,
            path=path,
            timestamp=timestamp,
            body=body,
            body_sha256=body_sha256,
        ),
    }


def verify_request(
    public_key: str,
    signature: str,
    *,
    chain_id: str,
    pool: str,
    method: str,
    path: str,
    timestamp: int,
    body: bytes,
    body_sha256: str | None = None,
) -> bool:
    """True when ``signature`` is ``public_key``'s signature of this request."""
    payload = compute_request_payload(
        chain_id=chain_id,
        pool=pool,
        method=method,
        path=path,
        timestamp=timestamp,
        body=body,
        body_sha256=body_sha256,
    )
    return verify_signature(public_key, DOMAIN_REQUEST, payload, signature)


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
