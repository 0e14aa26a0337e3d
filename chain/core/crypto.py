"""Domain-separated ed25519 signatures.

Every signature is ed25519 (PyNaCl) over ``sha256(domain || 0x00 || canonical bytes)``.
The domain names the message kind and the chain id travels inside the message, so no
signature can be replayed across kinds or chains. Keys are arguments: this module never
generates randomness (key generation lives in the I/O shell, :mod:`service_shell.keys`).

Spec: ``docs/spec/encoding.md`` (signatures and their domains).
"""

from __future__ import annotations

import hashlib
import re
from functools import lru_cache
from typing import Final

import nacl.bindings
import nacl.exceptions
import nacl.signing

from .codec import decode_hex
from .errors import MalformedInput
from .types import PublicKey, SignatureHex, is_lower_hex

DOMAIN_TX: Final = b"bppool/tx/v1"
DOMAIN_BLOCK: Final = b"bppool/block/v1"
DOMAIN_CANDIDATE: Final = b"bppool/candidate/v1"
CHAIN_DOMAINS: Final = frozenset({DOMAIN_TX, DOMAIN_BLOCK, DOMAIN_CANDIDATE})
"""The chain's own signature domains; the pool protocol's are in :mod:`pool_protocol.domains`."""
_DOMAIN = re.compile(rb"bppool/[a-z]+/v[0-9]+")


def is_signature_domain(domain: bytes) -> bool:
    """True for a domain name of the form ``bppool/<kind>/v<version>``."""
    return _DOMAIN.fullmatch(domain) is not None


def compute_signing_digest(domain: bytes, payload: bytes) -> bytes:
    """The 32 bytes that get signed: ``sha256(domain || 0x00 || payload)``."""
    if domain not in CHAIN_DOMAINS and not is_signature_domain(domain):
        raise ValueError(f"unknown signature domain {domain!r}")
    return hashlib.sha256(domain + b"\x00" + payload).digest()


class PrivateKey:
    """An ed25519 signing key built from a 32-byte seed (given, never generated here)."""

    __slots__ = ("_signing_key", "public_key")

    def __init__(self, seed: bytes) -> None:
        if len(seed) != 32:
            raise MalformedInput("private key seed must be 32 bytes")
        self._signing_key = nacl.signing.SigningKey(seed)
        self.public_key = PublicKey(bytes(self._signing_key.verify_key).hex())

    @classmethod
    def from_hex(cls, seed_hex: str) -> PrivateKey:
        """A key from its 64-hex-character seed (lowercase, nothing around it)."""
        if not isinstance(seed_hex, str) or len(seed_hex) != 64 or not is_lower_hex(seed_hex):
            raise MalformedInput("private key must be 64 lowercase hex characters")
        return cls(bytes.fromhex(seed_hex))

    def seed_hex(self) -> str:
        """The seed as hex (for writing a key file; handle with care)."""
        return bytes(self._signing_key).hex()

    def sign(self, domain: bytes, payload: bytes) -> SignatureHex:
        """Sign canonical ``payload`` bytes under ``domain``; the signature as hex."""
        digest = compute_signing_digest(domain, payload)
        return SignatureHex(self._signing_key.sign(digest).signature.hex())

    def __repr__(self) -> str:
        return f"PrivateKey(public_key={self.public_key})"


@lru_cache(maxsize=8192)
def _public_key_bytes(public_key: str) -> bytes | None:
    return decode_hex(public_key, 32)


def verify_signature(
    public_key: PublicKey | str, domain: bytes, payload: bytes, signature: SignatureHex | str
) -> bool:
    """True when ``signature`` is ``public_key``'s signature of ``payload`` under ``domain``.

    Both are accepted only in their canonical spelling (lowercase hex of 32 and 64 bytes):
    an upper-case or padded copy of a valid signature is not a signature.
    """
    key = _public_key_bytes(public_key)
    if key is None:
        return False
    sig = decode_hex(signature, 64)
    if sig is None:
        return False
    try:
        # The binding PyNaCl's VerifyKey.verify wraps, minus its argument re-encoding.
        nacl.bindings.crypto_sign_open(sig + compute_signing_digest(domain, payload), key)
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError, ValueError):
        return False
    return True
