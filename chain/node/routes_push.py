"""The hot write endpoints: transactions, blocks, and the pool emitter's prepare and commit.

Under ``bppool chain node`` the HTTP protocol serves them itself (:mod:`service_shell.hotroutes`);
under any other ASGI server the app's middleware does, the same way. Either way the
handlers below answer. Each is also a FastAPI route, for the OpenAPI and the 405s: one table,
:data:`HOT_ENDPOINTS`, holds each endpoint's handler, body limit and documentation.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel
from starlette.responses import Response

from chain.client import schemas as wire
from chain.core.codec import decode_json
from chain.core.errors import MalformedInput
from chain.core.types import validate_hash, validate_signature
from chain.node import schemas
from chain.node.node import Node
from service_shell.apidocs import SIGNED, SIGNED_ERRORS, WRITE_ERRORS, json_body
from service_shell.hotroutes import HotRequest, HotRoute, HotRoutes, hot_route_response
from service_shell.web import ApiError

router = APIRouter()


def _json_body(request: HotRequest) -> Any:
    try:
        return decode_json(request.body)
    except MalformedInput as exc:
        raise ApiError(400, "malformed", exc.message) from None


def _head_answer(node: Node, block_id: str, status: str) -> dict[str, Any]:
    state = node.state
    return {
        "block_id": block_id,
        "status": status,
        "head_block_num": state.height,
        "head_block_id": state.head_id,
    }


async def hot_push_transaction(node: Node, request: HotRequest) -> tuple[int, Any]:
    """Admit a signed transaction to the mempool."""
    tx = node.submit_transaction(_json_body(request))
    return 202, {
        "transaction_id": tx.id,
        "processed": {"status": "pending", "mempool_size": len(node.mempool)},
    }


async def hot_push_block(node: Node, request: HotRequest) -> tuple[int, Any]:
    """Take a signed block."""
    block, result = await node.submit_block(_json_body(request))
    return 200, _head_answer(node, block.id, result.status)


async def hot_prepare_block(node: Node, request: HotRequest) -> tuple[int, Any]:
    """Validate a producer's candidate ahead of its signature."""
    block = await node.prepare_block(request.headers, request.body, request.path)
    return 200, {"block_id": block.id, "prepared": True}


async def hot_commit_block(node: Node, request: HotRequest) -> tuple[int, Any]:
    """Take a prepared block with its producer's signature."""
    body = _json_body(request) if request.body.strip() else {}
    block_id = body.get("block_id") if isinstance(body, dict) else None
    signature = body.get("producer_signature") if isinstance(body, dict) else None
    if not isinstance(block_id, str) or not isinstance(signature, str):
        raise ApiError(400, "malformed", "expected {block_id, producer_signature}")
    # Verify both are spelled canonically (lowercase hex of their exact length)
    validate_hash(block_id, "block_id")
    validate_signature(signature, "producer_signature")
    block, result = await node.commit_block(block_id, signature)
    return 200, _head_answer(node, block.id, result.status)


@dataclass(frozen=True)
class HotEndpoint:
    """One hot write endpoint: its handler and limits, and how the OpenAPI documents it."""

    path: str
    handler: Callable[[Node, HotRequest], Awaitable[tuple[int, Any]]]
    tag: str
    body: type[BaseModel]
    answer: type[BaseModel]
    description: str
    status_code: int | None = None
    takes_block: bool = False  # body limit: max_block_bytes (max_transaction_bytes otherwise)
    signed: bool = False  # a request signed with the producer's key (X-BP-* headers)
    awaited: bool = False  # a commit arriving while it is in flight waits for it

    @property
    def name(self) -> str:
        """The route's name and operation id: the path's last part."""
        return self.path.rsplit("/", 1)[-1]


HOT_ENDPOINTS = (
    HotEndpoint(
        "/v1/chain/push_transaction",
        hot_push_transaction,
        "chain",
        wire.Transaction,
        schemas.Pushed,
        "Submit a signed transaction to the mempool (202: accepted, not yet in a block).",
        status_code=202,
    ),
    HotEndpoint(
        "/v1/node/push_block",
        hot_push_block,
        "node",
        wire.Block,
        schemas.HeadAnswer,
        "Submit a signed block (from a producer, the pool emitter or a peer).",
        takes_block=True,
    ),
    HotEndpoint(
        "/v1/node/prepare_block",
        hot_prepare_block,
        "node",
        wire.Block,
        schemas.Prepared,
        "Validate a candidate of the slot's scheduled producer ahead of its signature (a request\n"
        "signed by that producer, as the pool protocol signs requests).",
        takes_block=True,
        signed=True,
        awaited=True,
    ),
    HotEndpoint(
        "/v1/node/commit_block",
        hot_commit_block,
        "node",
        schemas.CommitBlock,
        schemas.HeadAnswer,
        "Accept a prepared block with its producer's signature: ``{block_id, producer_signature}``.",
    ),
)


def _document(endpoint: HotEndpoint) -> None:
    """The FastAPI route of ``endpoint``: its OpenAPI operation, and an answer through the
    hot route when the ASGI app is reached without the middleware in front."""

    async def serve(request: Request) -> Response:
        return await hot_route_response(request)

    serve.__name__ = serve.__qualname__ = endpoint.name
    serve.__doc__ = endpoint.description
    router.post(
        endpoint.path,
        status_code=endpoint.status_code,
        response_model=endpoint.answer,
        responses=SIGNED_ERRORS if endpoint.signed else WRITE_ERRORS,
        tags=[endpoint.tag],
        openapi_extra={**json_body(endpoint.body), **(SIGNED if endpoint.signed else {})},
    )(serve)


for _endpoint in HOT_ENDPOINTS:
    _document(_endpoint)


def hot_routes(node: Node) -> HotRoutes:
    """The hot routes of ``node``, for the HTTP protocol and the middleware alike."""
    settings = node.settings
    return {
        ("POST", e.path): HotRoute(
            partial(e.handler, node),
            settings.max_block_bytes if e.takes_block else settings.max_transaction_bytes,
            started=node.prepare_started if e.awaited else None,
            signed=e.signed,
        )
        for e in HOT_ENDPOINTS
    }
