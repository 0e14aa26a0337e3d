"""``Client``: the member SDK for a pool's emitter (httpx; transport injectable for tests).

Every member request is signed here, once, as the pool protocol says (``X-BP-Member``,
``X-BP-Timestamp``, ``X-BP-Signature`` over chain id, pool, method, path, timestamp and the
body's sha256). Public reads are not signed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
from httpx_sse import aconnect_sse

from chain.client.decoding import encode_candidate
from chain.core import Block, PrivateKey
from pool_protocol.applications import Application
from pool_protocol.messages import Ballot, ConstitutionSignature, Ruling
from pool_protocol.requests import request_headers
from service_shell.clock import Clock, SystemClock

__all__ = ["Client", "PoolError"]


class PoolError(Exception):
    """The emitter answered with an error (status 0: it could not be reached)."""

    def __init__(self, status: int, code: str, message: str, data: dict[str, Any] | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.data = data or {}


def _parse(response: httpx.Response) -> Any:
    if response.status_code < 400:
        return orjson.loads(response.content) if response.content else None
    try:
        error = orjson.loads(response.content)["error"]
        raise PoolError(
            response.status_code, error.get("code", "http_error"), error.get("message", ""), error
        )
    except (orjson.JSONDecodeError, KeyError, TypeError):
        raise PoolError(response.status_code, "http_error", response.text or response.reason_phrase) from None


class Client:
    """A pool member (or, with the pool's key, the pool admin) talking to one emitter."""

    def __init__(
        self,
        base_url: str,
        *,
        account: str,
        key: PrivateKey,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Clock | None = None,
        timeout: float = 5.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.account = account
        self.key = key
        self.clock: Clock = clock or SystemClock()
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            transport=transport,
            timeout=timeout,
            limits=httpx.Limits(max_connections=16, max_keepalive_connections=8),
        )
        self._pool: str | None = None
        self._chain_id: str | None = None

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # --- plumbing --------------------------------------------------------------------------

    async def _identity(self) -> tuple[str, str]:
        if self._pool is None or self._chain_id is None:
            info = await self.info()
            self._pool, self._chain_id = info["pool"], info["chain_id"]
        return self._pool, self._chain_id

    def signed_headers(
        self, method: str, path: str, body: bytes, *, pool: str, chain_id: str
    ) -> dict[str, str]:
        """The authentication headers for one request (fresh timestamp)."""
        return request_headers(
            self.key,
            self.account,
            chain_id=chain_id,
            pool=pool,
            method=method,
            path=path,
            timestamp=self.clock.now_ms(),
            body=body,
        )

    async def _request(self, method: str, path: str, body: bytes = b"", *, signed: bool = True) -> Any:
        headers = {"content-type": "application/json"}
        if signed:
            pool, chain_id = await self._identity()
            headers.update(self.signed_headers(method, path, body, pool=pool, chain_id=chain_id))
        try:
            response = await self._http.request(method, path, content=body or None, headers=headers)
        except httpx.HTTPError as exc:
            raise PoolError(
                0, "unreachable", f"cannot reach the emitter at {self.base_url}: {exc!r}"
            ) from None
        return _parse(response)

    # --- public ----------------------------------------------------------------------------

    async def info(self) -> dict[str, Any]:
        """The pool's public information."""
        return await self._request("GET", "/v1/pool/info", signed=False)  # type: ignore[no-any-return]

    async def constitution(self) -> tuple[str, str]:
        """The constitution text and its hash."""
        try:
            response = await self._http.get("/v1/pool/constitution")
        except httpx.HTTPError as exc:
            raise PoolError(0, "unreachable", str(exc)) from None
        if response.status_code >= 400:
            _parse(response)
        return response.text, response.headers["x-bp-constitution-hash"]

    async def members(self) -> dict[str, Any]:
        return await self._request("GET", "/v1/pool/members", signed=False)  # type: ignore[no-any-return]

    async def slot_outcome(self, slot: int) -> dict[str, Any]:
        return await self._request("GET", f"/v1/pool/slots/{slot}", signed=False)  # type: ignore[no-any-return]

    async def events(self, after_id: int = 0, limit: int = 500, **filters: Any) -> dict[str, Any]:
        params = "&".join(f"{k}={v}" for k, v in {"after_id": after_id, "limit": limit, **filters}.items())
        return await self._request("GET", f"/v1/pool/events?{params}", signed=False)  # type: ignore[no-any-return]

    # --- member ----------------------------------------------------------------------------

    async def apply(self, endpoint: str = "", *, constitution_hash: str | None = None) -> dict[str, Any]:
        """Apply to join, accepting the current constitution (fetched unless given)."""
        pool, chain_id = await self._identity()
        if constitution_hash is None:
            _, constitution_hash = await self.constitution()
        application = Application(
            chain_id=chain_id,
            pool=pool,
            account=self.account,
            public_key=self.key.public_key,
            endpoint=endpoint,
            constitution_hash=constitution_hash,
            timestamp=self.clock.now_ms(),
        ).signed(self.key)
        body = orjson.dumps(application.to_dict())
        return await self._request("POST", "/v1/pool/apply", body, signed=False)  # type: ignore[no-any-return]

    async def me(self) -> dict[str, Any]:
        """This member's status and statistics."""
        return await self._request("GET", "/v1/pool/members/me")  # type: ignore[no-any-return]

    async def current_slot(self) -> dict[str, Any]:
        """The open pool slot (or null) and the next pool slots (polling)."""
        return await self._request("GET", "/v1/pool/slots/current")  # type: ignore[no-any-return]

    async def submit_candidate(self, block: Block | bytes) -> dict[str, Any]:
        """Deliver a candidate (a block signed by this member as builder); returns the verdict
        or raises :class:`PoolError` with the rejection's code."""
        body = block if isinstance(block, bytes) else encode_candidate(block)
        return await self._request("POST", "/v1/pool/candidates", body)  # type: ignore[no-any-return]

    async def slot_feed(self) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        """Server-sent slot events (``hello``, ``slot_open``, ``slot_closed``) until the stream ends."""
        pool, chain_id = await self._identity()
        path = "/v1/pool/slots/stream"
        headers = self.signed_headers("GET", path, b"", pool=pool, chain_id=chain_id)
        async with aconnect_sse(
            self._http, "GET", path, headers=headers, timeout=httpx.Timeout(5.0, read=None)
        ) as source:
            if source.response.status_code >= 400:
                await source.response.aread()
                _parse(source.response)
            async for sse in source.aiter_sse():
                yield sse.event, orjson.loads(sse.data)

    # --- the DAC ---------------------------------------------------------------------------

    async def dac_get(self, path: str) -> Any:
        """A public DAC read: ``dac_get("/epochs/3/statement")``."""
        return await self._request("GET", f"/v1/dac{path}", signed=False)

    async def dac_sign_constitution(self) -> dict[str, Any]:
        """Sign the pool's latest constitution."""
        pool, chain_id = await self._identity()
        current = await self.dac_get("/constitution")
        message = ConstitutionSignature(
            chain_id, pool, self.account, current["version"], current["hash"], self.clock.now_ms()
        ).signed(self.key)
        return await self._request("POST", "/v1/dac/constitution/sign", orjson.dumps(message.to_dict()))  # type: ignore[no-any-return]

    async def dac_propose(self, kind: str, payload: dict[str, Any], description: str = "") -> dict[str, Any]:
        body = orjson.dumps({"kind": kind, "payload": payload, "description": description})
        return await self._request("POST", "/v1/dac/proposals", body)  # type: ignore[no-any-return]

    async def dac_vote(self, proposal_id: int, choice: str) -> dict[str, Any]:
        """Cast a signed ballot (``yes``, ``no`` or ``abstain``)."""
        pool, chain_id = await self._identity()
        ballot = Ballot(chain_id, pool, proposal_id, self.account, choice, self.clock.now_ms()).signed(
            self.key
        )
        path = f"/v1/dac/proposals/{proposal_id}/ballots"
        return await self._request("POST", path, orjson.dumps(ballot.to_dict()))  # type: ignore[no-any-return]

    async def dac_cancel(self, proposal_id: int) -> dict[str, Any]:
        return await self._request("POST", f"/v1/dac/proposals/{proposal_id}/cancel")  # type: ignore[no-any-return]

    async def dac_dispute(
        self, against: str, epoch: int, evidence: list[int], description: str = ""
    ) -> dict[str, Any]:
        body = orjson.dumps(
            {"against": against, "epoch": epoch, "evidence": evidence, "description": description}
        )
        return await self._request("POST", "/v1/dac/disputes", body)  # type: ignore[no-any-return]

    async def dac_rule(
        self, dispute_id: int, decision: str, epoch: int, penalty_bps: int = 0, reason: str = ""
    ) -> dict[str, Any]:
        """Rule on a dispute (this client must be the elected arbitrator)."""
        pool, chain_id = await self._identity()
        ruling = Ruling(
            chain_id,
            pool,
            dispute_id,
            self.account,
            decision,
            penalty_bps,
            epoch,
            reason,
            self.clock.now_ms(),
        ).signed(self.key)
        path = f"/v1/dac/disputes/{dispute_id}/ruling"
        return await self._request("POST", path, orjson.dumps(ruling.to_dict()))  # type: ignore[no-any-return]

    # --- pool admin (with the pool's key) --------------------------------------------------

    async def admin_member(self, account: str, action: str) -> dict[str, Any]:
        """Admit, suspend, reinstate or remove a member (this client must hold the pool key)."""
        return await self._request("POST", f"/v1/pool/admin/members/{account}/{action}")  # type: ignore[no-any-return]
