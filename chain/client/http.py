"""Clients of the chain node API (httpx; the transport is injectable for tests).

The protocol is written once: :class:`NodeRequests` builds each request and
:func:`parse_response` turns each answer into data or a :class:`NodeError`. Two thin
drivers send them: :class:`NodeClient` (sync, for the CLI) and :class:`AsyncNodeClient`
(async, for services).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
from httpx_sse import aconnect_sse

from chain.core import Block, Transaction
from chain.core.codec import canonical_bytes_trusted

__all__ = ["AsyncNodeClient", "NodeClient", "NodeError", "NodeRequests", "parse_response"]


class NodeError(Exception):
    """The node answered with an error (or could not be reached: status 0)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}" if code else message)
        self.status = status
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    body: bytes | None = None
    params: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)


def _json(data: Any) -> bytes:
    return orjson.dumps(data)


class NodeRequests:
    """Builders of every node API request."""

    @staticmethod
    def get_info() -> Request:
        return Request("POST", "/v1/chain/get_info", b"{}")

    @staticmethod
    def get_block(block_num_or_id: int | str) -> Request:
        return Request("POST", "/v1/chain/get_block", _json({"block_num_or_id": block_num_or_id}))

    @staticmethod
    def get_account(name: str) -> Request:
        return Request("POST", "/v1/chain/get_account", _json({"account_name": name}))

    @staticmethod
    def get_currency_balance(account: str) -> Request:
        return Request("POST", "/v1/chain/get_currency_balance", _json({"account": account}))

    @staticmethod
    def get_producers(limit: int = 1000) -> Request:
        return Request("POST", "/v1/chain/get_producers", _json({"limit": limit}))

    @staticmethod
    def get_producer_schedule() -> Request:
        return Request("POST", "/v1/chain/get_producer_schedule", b"{}")

    @staticmethod
    def push_transaction(tx: Transaction | dict[str, Any]) -> Request:
        data = tx.to_dict() if isinstance(tx, Transaction) else tx
        return Request("POST", "/v1/chain/push_transaction", _json(data))

    @staticmethod
    def push_block(block: Block | bytes) -> Request:
        body = block if isinstance(block, bytes) else canonical_bytes_trusted(block.to_dict())
        return Request("POST", "/v1/node/push_block", body)

    @staticmethod
    def prepare_block(body: bytes, headers: dict[str, str]) -> Request:
        return Request("POST", "/v1/node/prepare_block", body, headers=headers)

    @staticmethod
    def commit_block(block_id: str, producer_signature: str) -> Request:
        return Request(
            "POST",
            "/v1/node/commit_block",
            _json({"block_id": block_id, "producer_signature": producer_signature}),
        )

    @staticmethod
    def blocks(from_height: int, limit: int = 100) -> Request:
        return Request("GET", "/v1/node/blocks", params={"from_height": from_height, "limit": limit})

    @staticmethod
    def producer_last_block(producer: str) -> Request:
        return Request("GET", "/v1/node/producer_last_block", params={"producer": producer})

    @staticmethod
    def mempool(limit: int = 1000) -> Request:
        return Request("GET", "/v1/node/mempool", params={"limit": limit})

    @staticmethod
    def mempool_updates(after_seq: int, limit: int = 5000) -> Request:
        return Request("GET", "/v1/node/mempool/updates", params={"after_seq": after_seq, "limit": limit})

    @staticmethod
    def executions(**filters: Any) -> Request:
        """``/v1/executions/executions`` filtered by status, runner, verifier, service, ..."""
        return Request(
            "GET", "/v1/executions/executions", params={k: v for k, v in filters.items() if v is not None}
        )

    @staticmethod
    def execution(execution_id: str) -> Request:
        return Request("GET", f"/v1/executions/executions/{execution_id}")

    @staticmethod
    def services() -> Request:
        return Request("GET", "/v1/executions/services")

    @staticmethod
    def service(service_id: str) -> Request:
        return Request("GET", f"/v1/executions/services/{service_id}")

    @staticmethod
    def process(process_id: str) -> Request:
        return Request("GET", f"/v1/executions/processes/{process_id}")


def parse_response(response: httpx.Response) -> Any:
    """The JSON body of a successful answer, or :class:`NodeError` with the node's reason."""
    if response.status_code < 400:
        return orjson.loads(response.content) if response.content else None
    try:
        error = orjson.loads(response.content).get("error", {})
        code, message = error.get("code", "http_error"), error.get("message", response.text)
    except (orjson.JSONDecodeError, AttributeError):
        code, message = "http_error", response.text or response.reason_phrase
    raise NodeError(response.status_code, code, message)


class NodeClient:
    """Synchronous client (the CLI)."""

    def __init__(
        self, base_url: str, *, transport: httpx.BaseTransport | None = None, timeout: float = 10.0
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(base_url=self.base_url, transport=transport, timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> NodeClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(self, request: Request) -> Any:
        try:
            response = self._http.request(
                request.method,
                request.path,
                content=request.body,
                params=request.params or None,
                headers={"content-type": "application/json", **request.headers},
            )
        except httpx.HTTPError as exc:
            raise NodeError(0, "unreachable", f"cannot reach the node at {self.base_url}: {exc}") from None
        return parse_response(response)

    def get_info(self) -> dict[str, Any]:
        return self.send(NodeRequests.get_info())  # type: ignore[no-any-return]

    def get_block(self, block_num_or_id: int | str) -> dict[str, Any]:
        return self.send(NodeRequests.get_block(block_num_or_id))  # type: ignore[no-any-return]

    def get_account(self, name: str) -> dict[str, Any]:
        return self.send(NodeRequests.get_account(name))  # type: ignore[no-any-return]

    def get_currency_balance(self, account: str) -> list[str]:
        return self.send(NodeRequests.get_currency_balance(account))  # type: ignore[no-any-return]

    def get_producers(self, limit: int = 1000) -> dict[str, Any]:
        return self.send(NodeRequests.get_producers(limit))  # type: ignore[no-any-return]

    def get_producer_schedule(self) -> dict[str, Any]:
        return self.send(NodeRequests.get_producer_schedule())  # type: ignore[no-any-return]

    def push_transaction(self, tx: Transaction | dict[str, Any]) -> dict[str, Any]:
        return self.send(NodeRequests.push_transaction(tx))  # type: ignore[no-any-return]

    def push_block(self, block: Block | bytes) -> dict[str, Any]:
        return self.send(NodeRequests.push_block(block))  # type: ignore[no-any-return]

    def blocks(self, from_height: int, limit: int = 100) -> list[dict[str, Any]]:
        return self.send(NodeRequests.blocks(from_height, limit))  # type: ignore[no-any-return]

    def mempool(self, limit: int = 1000) -> list[dict[str, Any]]:
        return self.send(NodeRequests.mempool(limit))  # type: ignore[no-any-return]

    def executions(self, **filters: Any) -> list[dict[str, Any]]:
        return self.send(NodeRequests.executions(**filters))["executions"]  # type: ignore[no-any-return]

    def execution(self, execution_id: str) -> dict[str, Any]:
        return self.send(NodeRequests.execution(execution_id))  # type: ignore[no-any-return]

    def services(self) -> list[dict[str, Any]]:
        return self.send(NodeRequests.services())["services"]  # type: ignore[no-any-return]

    def service(self, service_id: str) -> dict[str, Any]:
        return self.send(NodeRequests.service(service_id))  # type: ignore[no-any-return]

    def process(self, process_id: str) -> dict[str, Any]:
        return self.send(NodeRequests.process(process_id))  # type: ignore[no-any-return]


class AsyncNodeClient:
    """Asynchronous client (services: the emitter, members, peers, runners)."""

    def __init__(
        self,
        base_url: str,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 5.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            transport=transport,
            timeout=timeout,
            limits=httpx.Limits(max_connections=32, max_keepalive_connections=16),
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def send(self, request: Request, *, timeout: float | None = None) -> Any:
        try:
            response = await self._http.request(
                request.method,
                request.path,
                content=request.body,
                params=request.params or None,
                headers={"content-type": "application/json", **request.headers},
                timeout=timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT,
            )
        except httpx.HTTPError as exc:
            raise NodeError(0, "unreachable", f"cannot reach the node at {self.base_url}: {exc!r}") from None
        return parse_response(response)

    async def get_info(self) -> dict[str, Any]:
        return await self.send(NodeRequests.get_info())  # type: ignore[no-any-return]

    async def get_block(self, block_num_or_id: int | str) -> dict[str, Any]:
        return await self.send(NodeRequests.get_block(block_num_or_id))  # type: ignore[no-any-return]

    async def get_account(self, name: str) -> dict[str, Any]:
        return await self.send(NodeRequests.get_account(name))  # type: ignore[no-any-return]

    async def get_producer_schedule(self) -> dict[str, Any]:
        return await self.send(NodeRequests.get_producer_schedule())  # type: ignore[no-any-return]

    async def push_transaction(self, tx: Transaction | dict[str, Any]) -> dict[str, Any]:
        return await self.send(NodeRequests.push_transaction(tx))  # type: ignore[no-any-return]

    async def push_block(self, block: Block | bytes, *, timeout: float | None = None) -> dict[str, Any]:
        return await self.send(NodeRequests.push_block(block), timeout=timeout)  # type: ignore[no-any-return]

    async def blocks(self, from_height: int, limit: int = 100) -> list[dict[str, Any]]:
        return await self.send(NodeRequests.blocks(from_height, limit))  # type: ignore[no-any-return]

    async def prepare_block(self, body: bytes, headers: dict[str, str]) -> dict[str, Any]:
        return await self.send(NodeRequests.prepare_block(body, headers))  # type: ignore[no-any-return]

    async def commit_block(self, block_id: str, producer_signature: str) -> dict[str, Any]:
        return await self.send(NodeRequests.commit_block(block_id, producer_signature))  # type: ignore[no-any-return]

    async def producer_last_block(self, producer: str) -> dict[str, Any]:
        """The newest block of ``producer`` the node holds, on any branch."""
        return await self.send(NodeRequests.producer_last_block(producer))  # type: ignore[no-any-return]

    async def mempool(self, limit: int = 1000) -> list[dict[str, Any]]:
        return await self.send(NodeRequests.mempool(limit))  # type: ignore[no-any-return]

    async def mempool_updates(self, after_seq: int, limit: int = 5000) -> dict[str, Any]:
        return await self.send(NodeRequests.mempool_updates(after_seq, limit))  # type: ignore[no-any-return]

    async def executions(self, **filters: Any) -> list[dict[str, Any]]:
        return (await self.send(NodeRequests.executions(**filters)))["executions"]  # type: ignore[no-any-return]

    async def execution(self, execution_id: str) -> dict[str, Any]:
        return await self.send(NodeRequests.execution(execution_id))  # type: ignore[no-any-return]

    async def service(self, service_id: str) -> dict[str, Any]:
        return await self.send(NodeRequests.service(service_id))  # type: ignore[no-any-return]

    async def head_stream(
        self, *, include_blocks: bool = False, include_mempool: bool = False
    ) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        """Server-sent head events as ``(event, data)``; ends when the connection does."""
        params = {"include_blocks": "true"} if include_blocks else {}
        if include_mempool:
            params["include_mempool"] = "true"
        async with aconnect_sse(
            self._http,
            "GET",
            "/v1/node/head_stream",
            params=params,
            timeout=httpx.Timeout(5.0, read=None),
        ) as source:
            async for sse in source.aiter_sse():
                if sse.event in ("head", "lib", "hello", "mempool"):
                    yield sse.event, orjson.loads(sse.data)
