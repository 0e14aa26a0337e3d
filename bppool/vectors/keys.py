"""The vectors' fixed keys and clock: every key is ``sha256("bppool-vector-key/" + name)``."""

from __future__ import annotations

import hashlib

from chain.core import PrivateKey

GENESIS_TIME = 1_700_000_000_000


def key(name: str) -> PrivateKey:
    """The vectors' key of ``name`` (its seed: ``sha256("bppool-vector-key/" + name)``)."""
    return PrivateKey(hashlib.sha256(b"bppool-vector-key/" + name.encode()).digest())


def seed_hex(name: str) -> str:
    return hashlib.sha256(b"bppool-vector-key/" + name.encode()).hexdigest()


def key_of(seed: str) -> PrivateKey:
    return PrivateKey(bytes.fromhex(seed))
