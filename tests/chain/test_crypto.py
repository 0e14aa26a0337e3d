"""Domain-separated ed25519 signatures."""

from __future__ import annotations

import pytest

from chain.core.codec import decode_hex
from chain.core.crypto import (
    DOMAIN_BLOCK,
    DOMAIN_CANDIDATE,
    DOMAIN_TX,
    PrivateKey,
    compute_signing_digest,
    verify_signature,
)
from chain.core.errors import MalformedInput
from tests.helpers.chain import key_for


def test_sign_and_verify() -> None:
    key = key_for("alice")
    sig = key.sign(DOMAIN_TX, b"payload")
    assert len(sig) == 128
    assert verify_signature(key.public_key, DOMAIN_TX, b"payload", sig)


def test_signature_does_not_cross_domains() -> None:
    key = key_for("alice")
    sig = key.sign(DOMAIN_CANDIDATE, b"header")
    assert not verify_signature(key.public_key, DOMAIN_BLOCK, b"header", sig)


def test_signature_does_not_verify_other_payload_or_key() -> None:
    key = key_for("alice")
    sig = key.sign(DOMAIN_TX, b"payload")
    assert not verify_signature(key.public_key, DOMAIN_TX, b"payload2", sig)
    assert not verify_signature(key_for("bob").public_key, DOMAIN_TX, b"payload", sig)


@pytest.mark.parametrize("bad", ["", "zz", "00" * 63, "0" * 129])
def test_malformed_signatures_do_not_verify(bad: str) -> None:
    assert not verify_signature(key_for("alice").public_key, DOMAIN_TX, b"p", bad)


def respell(hex_text: str) -> list[str]:
    """Other spellings of the same bytes: upper and mixed case, spaced, padded, 0x-prefixed."""
    mixed = "".join(c.upper() if i % 2 else c for i, c in enumerate(hex_text))
    spaced = " ".join(hex_text[i : i + 2] for i in range(0, len(hex_text), 2))
    return [hex_text.upper(), mixed, spaced, f" {hex_text}", f"{hex_text}\n", "0x" + hex_text]


def test_only_the_canonical_spelling_of_a_signature_or_key_verifies() -> None:
    key = key_for("alice")
    sig = key.sign(DOMAIN_TX, b"p")
    assert verify_signature(key.public_key, DOMAIN_TX, b"p", sig)
    for other in respell(sig):
        assert bytes.fromhex(other.removeprefix("0x")) == bytes.fromhex(sig)  # the same bytes
        assert not verify_signature(key.public_key, DOMAIN_TX, b"p", other), other
    for other in respell(key.public_key):
        assert not verify_signature(other, DOMAIN_TX, b"p", sig), other


def test_decode_hex_takes_the_canonical_spelling_only() -> None:
    raw = bytes(range(250, 256)) + bytes(range(10))
    assert decode_hex(raw.hex(), len(raw)) == raw
    assert decode_hex(raw.hex(), len(raw) + 1) is None
    for other in respell(raw.hex()):
        assert decode_hex(other, len(raw)) is None, other
    assert (
        decode_hex(None, 1) is None and decode_hex(b"ab", 1) is None and decode_hex("\u0661\u0662", 1) is None
    )


def test_malformed_public_key_does_not_verify() -> None:
    sig = key_for("alice").sign(DOMAIN_TX, b"p")
    assert not verify_signature("xyz", DOMAIN_TX, b"p", sig)


def test_digest_layout_is_domain_nul_payload() -> None:
    import hashlib

    assert compute_signing_digest(DOMAIN_TX, b"abc") == hashlib.sha256(b"bppool/tx/v1\x00abc").digest()
    with pytest.raises(ValueError):
        compute_signing_digest(b"other/v1", b"abc")


def test_private_key_round_trip_and_bad_seed() -> None:
    key = key_for("alice")
    assert PrivateKey.from_hex(key.seed_hex()).public_key == key.public_key
    with pytest.raises(MalformedInput):
        PrivateKey.from_hex("nothex")
    with pytest.raises(MalformedInput):
        PrivateKey(b"short")


def test_a_request_signature_verifies_with_a_precomputed_body_hash() -> None:
    import hashlib

    from pool_protocol.requests import sign_request, verify_request

    key = PrivateKey(b"\x07" * 32)
    fields = {"chain_id": "ab" * 32, "pool": "pool", "method": "POST", "path": "/p", "timestamp": 5}
    body = b'{"x":1}'
    digest = hashlib.sha256(body).hexdigest()
    signature = sign_request(key, body=body, body_sha256=digest, **fields)  # type: ignore[arg-type]
    assert signature == sign_request(key, body=body, **fields)  # type: ignore[arg-type]
    assert verify_request(key.public_key, signature, body=body, **fields)  # type: ignore[arg-type]
    assert verify_request(key.public_key, signature, body=b"", body_sha256=digest, **fields)  # type: ignore[arg-type]
    assert not verify_request(key.public_key, signature, body=body, body_sha256="00" * 32, **fields)  # type: ignore[arg-type]
