"""Signed requests of the pool protocol (pure; no clock).

A member request carries ``X-BP-Member``, ``X-BP-Timestamp`` (ms) and ``X-BP-Signature``:
an ed25519 signature under ``bppool/request/v1`` over the canonical JSON of
``{chain_id, pool, method, path, timestamp, body_sha256}``. The chain id and the pool account
bind the signature to one pool on one chain; the timestamp bounds its life; the body hash
binds the body. Servers check them with one verifier (:mod:`service_shell.requestauth`): every header
in its canonical spelling only (the signature as 128 lowercase hex characters), and a signature
accepted once is refused ever after.

An application to join a pool is signed the same way (:mod:`pool_protocol.applications`).
"""

from __future__ import annotations

import hashlib

from chain.core.codec import canonical_bytes_trusted
from chain.core.crypto import PrivateKey, verify_signature
from pool_protocol.domains import DOMAIN_REQUEST

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
