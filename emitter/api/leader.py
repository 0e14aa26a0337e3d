"""Writes go to the group's leader: every instance takes candidates and serves reads, but the
lease holder alone changes shared state (members, the DAC's proposals and ballots, admin
actions). Another instance forwards such a request to it as it came (a member's signature
covers the method, path, body and timestamp, not the host, so it verifies there) and answers
with the leader's answer; it then reloads the shared state, so its next read shows the write.

No leader (the lease is being taken over): ``503 no_leader`` with ``Retry-After: 1``. The
leader unreachable: ``503 leader_unreachable``. A forwarded request is never forwarded again.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

import httpx
import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

if TYPE_CHECKING:
    from emitter.service import Emitter

log = logging.getLogger("bppool.emitter")

READS = frozenset({"GET", "HEAD", "OPTIONS"})
ANYWHERE = frozenset({("POST", "/v1/pool/candidates")})  # the intake: every instance takes it
FORWARDED_BY = "x-bp-forwarded-by"
FORWARD_TIMEOUT_S = 10.0
# Hop-by-hop and computed headers are not passed on.
SKIP_HEADERS = frozenset({"host", "content-length", "connection", "keep-alive", "transfer-encoding"})


def _error(code: str, message: str, **extra: object) -> bytes:
    return orjson.dumps({"error": {"code": code, "message": message, **extra}})


class LeaderWrites:
    """Forwards writes to the lease holder when this instance does not hold it."""

    def __init__(self, app: ASGIApp, emitter: Emitter) -> None:
        self.app = app
        self.emitter = emitter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        group = self.emitter.group
        if (
            scope["type"] != "http"
            or scope["method"] in READS
            or (scope["method"], scope["path"]) in ANYWHERE
            or group.leads()
        ):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        holder, url = group.holder, group.holder_url
        if holder is None or url is None:
            await _send(
                send,
                503,
                _error("no_leader", "the group has no leader right now; retry in a second"),
            )
            return
        if FORWARDED_BY in headers or holder == group.instance:
            await _send(
                send,
                503,
                _error("not_leader", f"instance {group.instance} does not lead the group", leader=holder),
            )
            return
        body = await _read_body(receive)
        if body is None:
            return  # the client went away
        query = scope.get("query_string", b"").decode("latin-1")
        target = url + scope["path"] + (f"?{query}" if query else "")
        passed = {k: v for k, v in headers.items() if k not in SKIP_HEADERS}
        passed[FORWARDED_BY] = group.instance
        try:
            async with httpx.AsyncClient(timeout=FORWARD_TIMEOUT_S) as client:
                response = await client.request(scope["method"], target, content=body, headers=passed)
        except httpx.HTTPError as exc:
            log.warning(
                "could not forward %s %s to the leader %s: %s", scope["method"], scope["path"], holder, exc
            )
            await _send(
                send,
                503,
                _error(
                    "leader_unreachable", f"the group's leader {holder} did not answer; retry", leader=holder
                ),
            )
            return
        if response.status_code < 400:
            # Read-your-writes here: the shared state as the leader just wrote it.
            await asyncio.to_thread(group.reload)
        await send(
            {
                "type": "http.response.start",
                "status": response.status_code,
                "headers": [
                    (
                        b"content-type",
                        response.headers.get("content-type", "application/json").encode("latin-1"),
                    ),
                    (b"content-length", str(len(response.content)).encode()),
                    (b"x-bp-leader", holder.encode("latin-1", "replace")),
                ],
            }
        )
        await send({"type": "http.response.body", "body": response.content})


async def _read_body(receive: Receive) -> bytes | None:
    chunks = []
    while True:
        message: Message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _send(send: Send, status: int, body: bytes) -> None:
    """A JSON error that asks the client to try again in a second."""
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"retry-after", b"1"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
