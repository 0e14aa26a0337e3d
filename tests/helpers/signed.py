"""Signed requests as a hostile client sends them: re-spellings of a signed request's headers,
sent over a raw socket (HTTP clients refuse header values with surrounding whitespace), and
the signed routes of an app, found from its routes rather than listed by hand."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import orjson
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts

from pool_protocol.requests import HEADER_MEMBER, HEADER_SIGNATURE, HEADER_TIMESTAMP


@dataclass(frozen=True)
class Respelling:
    """One way of re-sending a signed request, and the answer it must get."""

    name: str
    changes: dict[str, str]
    status: int
    code: str


def respellings(headers: Mapping[str, str]) -> list[Respelling]:
    """Every re-spelling of the ``X-BP-*`` headers of a request that was accepted once."""
    sig, ts, member = headers[HEADER_SIGNATURE], headers[HEADER_TIMESTAMP], headers[HEADER_MEMBER]
    mixed = "".join(c.upper() if i % 2 else c for i, c in enumerate(sig))
    assert mixed not in (sig, sig.upper())
    malformed = (400, "malformed_header")
    return [
        Respelling("exact replay", {}, 401, "replayed_request"),
        Respelling("upper-case signature", {HEADER_SIGNATURE: sig.upper()}, *malformed),
        Respelling("mixed-case signature", {HEADER_SIGNATURE: mixed}, *malformed),
        Respelling(
            "signature with spaces",
            {HEADER_SIGNATURE: " ".join(sig[i : i + 2] for i in range(0, len(sig), 2))},
            *malformed,
        ),
        Respelling("signature with trailing whitespace", {HEADER_SIGNATURE: sig + "  "}, *malformed),
        Respelling(
            "signature with leading and trailing whitespace", {HEADER_SIGNATURE: f" {sig}\t"}, *malformed
        ),
        # HTTP drops the whitespace before a header value: what arrives is the exact request.
        Respelling(
            "signature with leading whitespace", {HEADER_SIGNATURE: "   " + sig}, 401, "replayed_request"
        ),
        Respelling("0x-prefixed signature", {HEADER_SIGNATURE: "0x" + sig}, *malformed),
        Respelling("0X-prefixed upper-case signature", {HEADER_SIGNATURE: "0X" + sig.upper()}, *malformed),
        Respelling("timestamp with a leading zero", {HEADER_TIMESTAMP: "0" + ts}, *malformed),
        Respelling("timestamp with a plus sign", {HEADER_TIMESTAMP: "+" + ts}, *malformed),
        Respelling("timestamp with trailing whitespace", {HEADER_TIMESTAMP: ts + " "}, *malformed),
        Respelling("upper-case member", {HEADER_MEMBER: member.upper()}, *malformed),
    ]


async def send_raw(
    url: str, method: str, path: str, headers: Mapping[str, str], body: bytes = b""
) -> tuple[int, Any]:
    """Send one request byte for byte (header values exactly as given) and return its status
    and JSON answer (``None`` for a stream, which is closed at once)."""
    where = urlsplit(url)
    reader, writer = await asyncio.open_connection(where.hostname, where.port)
    try:
        lines = [
            f"{method} {path} HTTP/1.1",
            "Host: test",
            "Content-Type: application/json",
            f"Content-Length: {len(body)}",
            "Connection: close",
            *(f"{name}:{value}" for name, value in headers.items()),
        ]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        await writer.drain()
        head = (await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)).decode("latin-1")
        status = int(head.split(" ", 2)[1])
        fields = {
            name.strip().lower(): value.strip()
            for name, _, value in (line.partition(":") for line in head.split("\r\n")[1:] if line)
        }
        if "content-length" not in fields:
            return status, None
        content = await asyncio.wait_for(reader.readexactly(int(fields["content-length"])), 10)
        return status, orjson.loads(content)
    finally:
        writer.close()


async def check_respellings(
    url: str,
    method: str,
    path: str,
    headers: Mapping[str, str],
    body: bytes,
    effect: Callable[[], Any],
) -> None:
    """Re-send a request that was just accepted in every spelling: each is refused as it must be
    (the error code says why), and ``effect`` (a snapshot of what the request changed) stays
    as the accepted request left it."""
    before = effect()
    for spelling in respellings(headers):
        status, answer = await send_raw(url, method, path, {**headers, **spelling.changes}, body)
        code = answer["error"]["code"] if isinstance(answer, dict) and "error" in answer else None
        assert (status, code) == (spelling.status, spelling.code), (
            f"{method} {path}, {spelling.name}: {answer}"
        )
        if spelling.code == "malformed_header":
            changed = next(iter(spelling.changes))
            assert changed in answer["error"]["message"].lower(), answer
        assert effect() == before, f"{method} {path}, {spelling.name}: a second side effect"


def _depends_on(dependant: Dependant, calls: frozenset[Callable[..., Any]]) -> bool:
    return any(d.call in calls or _depends_on(d, calls) for d in dependant.dependencies)


def signed_routes(app: Any, dependencies: frozenset[Callable[..., Any]]) -> set[tuple[str, str]]:
    """``(method, path)`` of every route of ``app`` that takes only signed requests: the routes
    with one of the signature ``dependencies`` anywhere in their dependency tree, and the hot
    routes declared ``signed``."""
    found = {
        (method, str(context.path))
        for context in iter_route_contexts(app.routes)  # routes of included routers too
        if isinstance(context.original_route, APIRoute)
        and _depends_on(context.original_route.dependant, dependencies)
        for method in context.methods or ()
    }
    return found | {key for key, hot in getattr(app.state, "hot_routes", {}).items() if hot.signed}
