"""Signed requests at the edge of every service: one verifier, one replay guard.

Every request signed the way the pool protocol signs them (:mod:`pool_protocol.requests`) is checked
here and nowhere else: a member's candidate delivery and its pool API calls, the DAC's writes
(the pool service's verifier), and the pool's ``prepare_block`` at the node (the node's).
The checks, in order, each refusal a 4xx naming what is wrong:

1. the three headers are there: 401 ``unauthenticated``;
2. each is spelled canonically: 400 ``malformed_header`` naming the header.
   ``X-BP-Member`` is an account name; ``X-BP-Timestamp`` ASCII decimal digits with no sign,
   space or leading zero; ``X-BP-Signature`` exactly 128 lowercase hex characters (no upper
   case, ``0x`` or whitespace). A request has one spelling, so no re-spelled copy of a signed
   request can look new to the replay guard;
3. the timestamp is within the allowed skew of the service's clock: 401 ``stale_request``;
4. (the service looks up the requester's key and answers its own refusal, e.g. ``unknown_member``);
5. the signature verifies: 401 ``bad_request_signature``;
6. it was not accepted before: 401 ``replayed_request``. The guard remembers the decoded
   signature bytes until the request's timestamp leaves the skew window, after which step 3
   refuses it anyway.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from dataclasses import dataclass

from chain.core.codec import decode_hex
from chain.core.types import is_valid_account_name
from pool_protocol.requests import HEADER_MEMBER, HEADER_SIGNATURE, HEADER_TIMESTAMP, verify_request
from service_shell.clock import Clock
from service_shell.web import ApiError

MAX_REMEMBERED = 200_000
"""The most signatures a guard holds at once (~64 bytes each, plus their expiry)."""

_MAX_TIMESTAMP_DIGITS = 16  # milliseconds since the epoch have 13 digits until the year 2286


class RequestRefused(ApiError):
    """A signed request the verifier refuses (an HTTP 4xx: malformed headers, a bad, stale or
    replayed signature, an unknown or inactive member)."""


@dataclass(frozen=True, slots=True)
class SignedHeaders:
    """The authentication headers of a request, read and checked for spelling and freshness."""

    member: str
    timestamp: int
    signature: str
    signature_bytes: bytes
    received_ms: int


class ReplayGuard:
    """The signatures a service has accepted, each kept until it can no longer be fresh.

    Keyed on the decoded signature bytes. Expiry is exact (a heap by expiry time), so a
    signature is forgotten only once its timestamp is refused as stale. When the guard is full
    of signatures that are all still fresh it refuses new ones (503) rather than forget one
    that could then be replayed.
    """

    __slots__ = ("_by_expiry", "_seen", "max_entries")

    def __init__(self, max_entries: int = MAX_REMEMBERED) -> None:
        self.max_entries = max_entries
        self._seen: set[bytes] = set()
        self._by_expiry: list[tuple[int, bytes]] = []

    def __len__(self) -> int:
        return len(self._seen)

    def admit(self, key: bytes, expires_ms: int, now_ms: int) -> bool:
        """Remember ``key`` until ``expires_ms``; False when it is remembered already."""
        by_expiry = self._by_expiry
        while by_expiry and by_expiry[0][0] < now_ms:
            self._seen.discard(heapq.heappop(by_expiry)[1])
        if key in self._seen:
            return False
        if len(self._seen) >= self.max_entries:
            raise RequestRefused(
                503,
                "too_many_requests",
                f"{self.max_entries} signed requests are still within their time window; try again shortly",
            )
        self._seen.add(key)
        heapq.heappush(by_expiry, (expires_ms, key))
        return True


class RequestVerifier:
    """Checks signed requests for one service (see the module's docstring for the rules)."""

    __slots__ = ("chain_id", "clock", "guard", "skew_ms")

    def __init__(
        self, *, chain_id: str, clock: Clock, skew_ms: int, guard: ReplayGuard | None = None
    ) -> None:
        self.chain_id = chain_id
        self.clock = clock
        self.skew_ms = skew_ms
        self.guard = guard if guard is not None else ReplayGuard()

    def read(self, headers: Mapping[str, str]) -> SignedHeaders:
        """The request's ``X-BP-*`` headers (lower-case names, or any case-insensitive
        mapping) once present, canonically spelled and fresh; a 4xx naming the fault otherwise."""
        member = headers.get(HEADER_MEMBER)
        timestamp = headers.get(HEADER_TIMESTAMP)
        signature = headers.get(HEADER_SIGNATURE)
        # Verify the headers are there
        if not member or not timestamp or not signature:
            raise RequestRefused(
                401, "unauthenticated", "sign the request: X-BP-Member, X-BP-Timestamp and X-BP-Signature"
            )
        # Verify each is spelled canonically
        if not is_valid_account_name(member):
            raise RequestRefused(
                400, "malformed_header", "X-BP-Member: expected an account name (a-z, 1-5 and '.')"
            )
        if not (
            len(timestamp) <= _MAX_TIMESTAMP_DIGITS
            and timestamp.isascii()
            and timestamp.isdigit()
            and (timestamp[0] != "0" or timestamp == "0")
        ):
            raise RequestRefused(
                400,
                "malformed_header",
                "X-BP-Timestamp: expected milliseconds since the epoch in decimal digits only",
            )
        signature_bytes = decode_hex(signature, 64)
        if signature_bytes is None:
            raise RequestRefused(
                400,
                "malformed_header",
                "X-BP-Signature: expected exactly 128 lowercase hex characters "
                "(no upper case, 0x prefix or whitespace)",
            )
        # Verify the timestamp is fresh
        ts = int(timestamp)
        now = self.clock.now_ms()
        if abs(now - ts) > self.skew_ms:
            raise RequestRefused(
                401,
                "stale_request",
                f"request timestamp is {abs(now - ts) // 1000} s off; allowed {self.skew_ms // 1000} s",
            )
        return SignedHeaders(member, ts, signature, signature_bytes, now)

    def verify(
        self,
        signed: SignedHeaders,
        public_key: str,
        *,
        pool: str,
        method: str,
        path: str,
        body: bytes,
        body_sha256: str | None = None,
    ) -> None:
        """Check that ``public_key`` signed this request for ``pool``, and that it is new."""
        # Verify the signature
        if not verify_request(
            public_key,
            signed.signature,
            chain_id=self.chain_id,
            pool=pool,
            method=method,
            path=path,
            timestamp=signed.timestamp,
            body=body,
            body_sha256=body_sha256,
        ):
            raise RequestRefused(
                401, "bad_request_signature", f"the request signature does not verify for {signed.member}"
            )
        # Verify the signature was never accepted before
        if not self.guard.admit(signed.signature_bytes, signed.timestamp + self.skew_ms, signed.received_ms):
            raise RequestRefused(401, "replayed_request", "this signed request was already received")
