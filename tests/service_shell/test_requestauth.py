"""The one verifier of signed requests and its replay guard (the spelling rules, freshness,
exact expiry, a full guard); every endpoint's replays are tested with the services."""

from __future__ import annotations

import pytest

from pool_protocol.requests import HEADER_MEMBER, HEADER_SIGNATURE, HEADER_TIMESTAMP, request_headers
from service_shell.requestauth import ReplayGuard, RequestVerifier
from service_shell.web import ApiError
from tests.helpers.chain import key_for
from tests.helpers.node import FakeClock

CHAIN_ID = "ab" * 32
NOW = 1_800_000_000_000


def signed(ts: int = NOW, member: str = "alice", body: bytes = b"{}") -> dict[str, str]:
    return request_headers(
        key_for(member),
        member,
        chain_id=CHAIN_ID,
        pool="pool",
        method="POST",
        path="/p",
        timestamp=ts,
        body=body,
    )


def check(verifier: RequestVerifier, headers: dict[str, str], body: bytes = b"{}") -> None:
    got = verifier.read(headers)
    verifier.verify(got, key_for("alice").public_key, pool="pool", method="POST", path="/p", body=body)


def refusal(verifier: RequestVerifier, headers: dict[str, str], body: bytes = b"{}") -> tuple[int, str]:
    with pytest.raises(ApiError) as info:
        check(verifier, headers, body)
    return info.value.status, info.value.code


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
def verifier(clock: FakeClock) -> RequestVerifier:
    return RequestVerifier(chain_id=CHAIN_ID, clock=clock, skew_ms=30_000)


@pytest.mark.parametrize(
    ("header", "value"),
    [
        (HEADER_MEMBER, "Alice"),
        (HEADER_TIMESTAMP, f"0{NOW}"),
        (HEADER_TIMESTAMP, f"+{NOW}"),
        (HEADER_TIMESTAMP, f"{NOW:_}"),
        (HEADER_TIMESTAMP, "".join(chr(0x0660 + int(d)) for d in str(NOW))),  # Arabic-Indic digits
        (HEADER_TIMESTAMP, "1" * 17),
        (HEADER_TIMESTAMP, f"{NOW}\n"),
        (HEADER_SIGNATURE, "zz" * 64),
        (HEADER_SIGNATURE, "00" * 63),
    ],
)
def test_a_header_in_another_spelling_is_malformed(
    verifier: RequestVerifier, header: str, value: str
) -> None:
    headers = {**signed(), header: value}
    with pytest.raises(ApiError) as info:
        verifier.read(headers)
    assert (info.value.status, info.value.code) == (400, "malformed_header")
    assert header in info.value.message.lower()


def test_checks_in_order(verifier: RequestVerifier, clock: FakeClock) -> None:
    assert refusal(verifier, {}) == (401, "unauthenticated")
    assert refusal(verifier, signed(NOW - 30_001)) == (401, "stale_request")
    assert refusal(verifier, signed(member="bob")) == (401, "bad_request_signature")
    assert refusal(verifier, signed(), body=b"{ }") == (401, "bad_request_signature")
    # a signature refused with the wrong body was not remembered: with its own body it passes, once
    headers = signed()
    check(verifier, headers)
    assert refusal(verifier, headers) == (401, "replayed_request")


def test_a_signature_is_remembered_exactly_as_long_as_it_is_fresh(
    verifier: RequestVerifier, clock: FakeClock
) -> None:
    early, late = signed(NOW - 30_000), signed(NOW + 30_000)
    check(verifier, early)
    check(verifier, late)
    clock.set(NOW + 1)  # ``early`` is stale now: refused as stale and forgotten
    assert refusal(verifier, early) == (401, "stale_request")
    check(verifier, signed(NOW + 2))
    assert len(verifier.guard) == 2
    clock.set(NOW + 60_000)  # ``late`` is still fresh: still remembered
    assert refusal(verifier, late) == (401, "replayed_request")


def test_a_full_guard_refuses_rather_than_forgets() -> None:
    guard = ReplayGuard(max_entries=2)
    assert guard.admit(b"a", 100, 0) and guard.admit(b"b", 200, 0)
    with pytest.raises(ApiError) as info:
        guard.admit(b"c", 300, 50)
    assert (info.value.status, info.value.code) == (503, "too_many_requests")
    assert not guard.admit(b"a", 100, 100)  # still fresh at 100: never forgotten
    assert guard.admit(b"c", 300, 101)  # ``a`` expired: room again
    assert len(guard) == 2
