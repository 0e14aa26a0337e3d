"""Candidate intake.

``intake`` is the endpoint's one implementation. It is a hot route (:mod:`chain.hotroutes`):
served by the HTTP protocol itself under ``bppool emitter serve`` and by a middleware
anywhere else; the FastAPI route below documents it (OpenAPI) and answers the same way.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from chain.core.auth import HEADER_MEMBER, HEADER_SIGNATURE, HEADER_TIMESTAMP
from chain.hotroutes import HotRequest
from chain.web import ApiError, JSONResponse
from emitter.api.deps import get_emitter
from emitter.service import Emitter

router = APIRouter(prefix="/v1/pool", tags=["candidates"])


async def intake(emitter: Emitter, request: HotRequest) -> tuple[int, Any]:
    """Authenticate the member's signed request, then take its candidate (status, verdict)."""
    headers = request.headers
    try:
        member = emitter.authenticate(
            member=headers.get(HEADER_MEMBER),
            timestamp=headers.get(HEADER_TIMESTAMP),
            signature=headers.get(HEADER_SIGNATURE),
            method=request.method,
            path=request.path,
            body=request.body,
        )
    except ApiError as exc:
        emitter.metrics.requests_rejected.labels(reason=exc.code).inc()
        raise
    return 200, await emitter.submit_candidate(member["account"], request.body)


@router.post("/candidates")
async def submit_candidate(request: Request) -> JSONResponse:
    """Deliver a candidate block for the open pool slot (signed request of an active member;
    the body is the block signed by the member as builder). Answers the verdict; every
    rejection is a 4xx naming it, and every arrival is logged first."""
    hot = HotRequest(request.method, request.scope["path"], request.headers, await request.body())
    status, content = await intake(get_emitter(request), hot)
    return JSONResponse(content, status_code=status)
