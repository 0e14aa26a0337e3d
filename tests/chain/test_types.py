"""Account names and amounts."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chain.core.errors import InvalidAmount, InvalidName
from chain.core.types import (
    format_amount,
    is_valid_account_name,
    parse_amount,
    validate_account_name,
)


@pytest.mark.parametrize("name", ["a", "alice", "pool.bp", "abcdefghij12", "eosio.token", "z5"])
def test_valid_names(name: str) -> None:
    assert is_valid_account_name(name)
    assert validate_account_name(name) == name


@pytest.mark.parametrize(
    "name", ["", "Alice", "abcdefghij123", "a6", "bob!", ".bob", "bob.", "with space", 7, None]
)
def test_invalid_names(name: object) -> None:
    assert not is_valid_account_name(name)
    with pytest.raises(InvalidName, match="not a valid account name"):
        validate_account_name(name)


@pytest.mark.parametrize(
    ("amount", "text"),
    [
        (0, "0.0000 BPT"),
        (1, "0.0001 BPT"),
        (123456, "12.3456 BPT"),
        (10_0000, "10.0000 BPT"),
        (-5, "-0.0005 BPT"),
    ],
)
def test_format_amount(amount: int, text: str) -> None:
    assert format_amount(amount) == text


@pytest.mark.parametrize(
    ("text", "amount"),
    [("12.3456 BPT", 123456), ("12 BPT", 120000), ("0.5", 5000), ("  7.1 BPT ", 71000)],
)
def test_parse_amount(text: str, amount: int) -> None:
    assert parse_amount(text) == amount


@pytest.mark.parametrize(
    "text", ["", "abc", "1.23456 BPT", "1.0 EOS", "-1 BPT", "1. BPT", "1 2 BPT", "1e5", "1.0 bpt"]
)
def test_parse_amount_rejects(text: str) -> None:
    with pytest.raises(InvalidAmount):
        parse_amount(text)


@given(st.integers(min_value=0, max_value=2**62))
def test_amount_round_trip(amount: int) -> None:
    assert parse_amount(format_amount(amount)) == amount
