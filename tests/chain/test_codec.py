"""Canonical bytes and ids."""

from __future__ import annotations

import hashlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chain.core.codec import canonical_bytes, compute_id, decode_json, is_canonical_value
from chain.core.errors import MalformedInput

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=20,
)


@given(json_values)
def test_canonical_bytes_match_reference_encoding(value: object) -> None:
    reference = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    assert canonical_bytes(value) == reference


@given(json_values)
def test_canonical_bytes_round_trip(value: object) -> None:
    assert decode_json(canonical_bytes(value)) == value


def test_key_order_does_not_change_id() -> None:
    assert compute_id({"b": 1, "a": [1, 2]}) == compute_id({"a": [1, 2], "b": 1})
    expected = hashlib.sha256(b'{"a":[1,2],"b":1}').hexdigest()
    assert compute_id({"b": 1, "a": [1, 2]}) == expected


@pytest.mark.parametrize("value", [1.5, {"a": 0.0}, [float("nan")], {1: "int key"}, b"bytes", 2**64])
def test_non_canonical_values_are_refused(value: object) -> None:
    assert not is_canonical_value(value)
    with pytest.raises(MalformedInput):
        canonical_bytes(value)


def test_decode_json_error_is_typed() -> None:
    with pytest.raises(MalformedInput, match="not valid JSON"):
        decode_json(b"{nope")


def test_canonical_bytes_hold_no_more_memory_than_their_length() -> None:
    """They are cached on transactions and blocks: a 300-byte encoding must not keep the
    encoder's 4 KiB buffer alive (100,000 cached transactions would hold 400 MB)."""
    import tracemalloc

    from chain.core.codec import canonical_bytes, canonical_bytes_trusted

    value = {"action": {"amount": 1, "kind": "transfer", "to": "bob"}, "nonce": 7, "sender": "alice"}
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        kept = [canonical_bytes_trusted(value) for _ in range(200)] + [
            canonical_bytes(value) for _ in range(200)
        ]
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    grown = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    assert grown / len(kept) < 4 * len(kept[0]), grown / len(kept)
