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
from typing import NotRequired, TypedDict, Unpack

from chain.core.codec import canonical_bytes_trusted
from chain.core.crypto import PrivateKey, verify_signature
from pool_protocol.domains import DOMAIN_REQUEST

HEADER_MEMBER = "x-bp-member"
HEADER_TIMESTAMP = "x-bp-timestamp"
HEADER_SIGNATURE = "x-bp-signature"
DEFAULT_REQUEST_SKEW_S = 30
"""How far a signed request's timestamp may be from the server's clock, by default."""


class Request(TypedDict):
    """What a request signature covers: the pool on its chain, the method, the path (without
    a query string: the servers check the signature against the request's path alone, and no
    signed route takes query parameters), the timestamp in ms and the body (or its sha256 in
    hex, when the caller has it already). Spec: ``docs/spec/encoding.md``, request signing."""

    chain_id: str
    pool: str
    method: str
    path: str
    timestamp: int
    body: bytes
    body_sha256: NotRequired[str | None]


def compute_request_payload(**request: Unpack[Request]) -> bytes:
    """The canonical bytes a member signs for one request."""
    body_sha256 = request.get("body_sha256") or hashlib.sha256(request["body"]).hexdigest()
    return canonical_bytes_trusted(
        {
            "chain_id": request["chain_id"],
            "pool": request["pool"],
            "method": request["method"].upper(),
            "path": request["path"],
            "timestamp": request["timestamp"],
            "body_sha256": body_sha256
            if body_sha256 is not None
            else hashlib.sha256(request["body"]).hexdigest(),
        }
    )


def sign_request(key: PrivateKey, **request: Unpack[Request]) -> str:
    """The ``X-BP-Signature`` value for a request."""
    return key.sign(DOMAIN_REQUEST, compute_request_payload(**request))


def request_headers(key: PrivateKey, member: str, **request: Unpack[Request]) -> dict[str, str]:
    """All three authentication headers for a request."""
    return {
        HEADER_MEMBER: member,
        HEADER_TIMESTAMP: str(request["timestamp"]),
        HEADER_SIGNATURE: sign_request(key, **request),
    }


def verify_request(public_key: str, signature: str, **request: Unpack[Request]) -> bool:
    """True when ``signature`` is ``public_key``'s signature of this request."""
    return verify_signature(public_key, DOMAIN_REQUEST, compute_request_payload(**request), signature)
