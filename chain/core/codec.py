"""Canonical bytes and ids.

Canonical bytes are JSON with sorted keys, no whitespace, UTF-8, integers only (no floats),
byte strings as lowercase hex. Every id in bppool is ``sha256(canonical bytes)`` as hex.

Spec: ``docs/spec/encoding.md`` (canonical encoding).
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

from .errors import MalformedInput
from .types import Hash32

_SORT = orjson.OPT_SORT_KEYS


def _exact(data: bytes) -> bytes:
    """``data`` in a block of its own size. orjson returns its output in the buffer it wrote
    into (4 KiB at least, up to half again the length for large output), and canonical bytes
    are often kept (cached on transactions, blocks, transaction lists): a transaction's 300
    bytes would hold 4 KiB for as long as it is cached. The copy costs ~0.2 µs."""
    return memoryview(data).tobytes()


def canonical_bytes(obj: Any) -> bytes:
    """Encode a JSON-ready value (dicts, lists, str, int, bool, None) canonically.

    Floats are refused: every number on the wire is an integer.
    """
    if not is_canonical_value(obj):
        raise MalformedInput("value is not canonical JSON (floats or non-JSON types)")
    return _exact(orjson.dumps(obj, option=_SORT))


def canonical_bytes_trusted(obj: Any) -> bytes:
    """Like :func:`canonical_bytes` for values built by this code (skips the type walk)."""
    return _exact(orjson.dumps(obj, option=_SORT))


def is_canonical_value(obj: Any) -> bool:
    """True when ``obj`` holds only JSON objects with str keys, lists, str, int, bool, None."""
    stack = [obj]
    while stack:
        item = stack.pop()
        if item is None or isinstance(item, (str, bool)):
            continue
        if type(item) is int:
            if not -(2**63) <= item < 2**64:
                return False
            continue
        if isinstance(item, dict):
            for key, value in item.items():
                if not isinstance(key, str):
                    return False
                stack.append(value)
            continue
        if isinstance(item, (list, tuple)):
            stack.extend(item)
            continue
        return False
    return True


def sha256(data: bytes) -> bytes:
    """The sha256 digest of ``data``."""
    return hashlib.sha256(data).digest()


def compute_id(obj: Any) -> Hash32:
    """The id of a JSON-ready value: ``sha256(canonical bytes)`` as lowercase hex."""
    return Hash32(hashlib.sha256(orjson.dumps(obj, option=_SORT)).hexdigest())  # not kept: no copy


def decode_hex(value: object, size: int) -> bytes | None:
    """The ``size`` bytes that ``value`` spells in canonical hex, or ``None`` for any other
    value or spelling. Canonical is lowercase, exactly ``2 * size`` characters and nothing else
    (no upper case, ``0x`` or whitespace, which ``bytes.fromhex`` would let through): one byte
    string has one spelling, so a signature or key cannot be re-spelled to look new."""
    if not isinstance(value, str) or len(value) != 2 * size:
        return None
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        return None
    return raw if raw.hex() == value else None


def decode_json(data: bytes | str) -> Any:
    """Parse JSON text, raising :class:`MalformedInput` (never a parser exception)."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise MalformedInput(f"body is not valid JSON: {exc}") from None
