"""Candidate intake.

``intake`` is the endpoint's one implementation. It is a hot route (:mod:`service_shell.hotroutes`):
served by the HTTP protocol itself under ``bppool emitter serve`` and by a middleware
anywhere else; the FastAPI route below documents it (OpenAPI) and answers the same way.

Spec: ``docs/spec/pool.md`` §6 (delivery).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from chain.client.schemas import Block
from emitter.api import schemas
from emitter.api.errors import error_content
from emitter.errors import EmitterError
from emitter.service import Emitter
from service_shell.apidocs import SIGNED, SIGNED_ERRORS, json_body
from service_shell.hotroutes import HotRequest, hot_route_response

router = APIRouter(prefix="/v1/pool", tags=["candidates"])


async def intake(emitter: Emitter, request: HotRequest) -> tuple[int, Any]:
    """Authenticate the member's signed request, then take its candidate (status, verdict);
    a refusal is answered with its status and error body."""
    try:
        member = emitter.authenticate_request(
            request.headers, method=request.method, path=request.path, body=request.body
        )
        return 200, await emitter.submit_candidate(member["account"], request.body)
    except EmitterError as exc:
        return error_content(exc)


@router.post(
    "/candidates",
    response_model=schemas.Verdict,
    responses=SIGNED_ERRORS,
    openapi_extra={
        **json_body(Block, description="The candidate block, signed by the member as builder"),
        **SIGNED,
    },
)
async def submit_candidate(request: Request) -> Response:
    """Deliver a candidate block for the open pool slot (signed request of an active member;
    the body is the block signed by the member as builder). Answers the verdict; every
    rejection is a 4xx naming it, and every arrival is logged first."""
    return await hot_route_response(request)
