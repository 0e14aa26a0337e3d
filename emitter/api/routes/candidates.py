"""Candidate intake."""

from __future__ import annotations

from fastapi import APIRouter, Request

from chain.web import JSONResponse
from emitter.api.deps import authenticate, get_emitter

router = APIRouter(prefix="/v1/pool", tags=["candidates"])


@router.post("/candidates")
async def submit_candidate(request: Request) -> JSONResponse:
    """Deliver a candidate block for the open pool slot (signed request of an active member;
    the body is the block signed by the member as builder). Answers the verdict; every
    rejection is a 4xx naming it, and every arrival is logged first."""
    member = await authenticate(request)
    emitter = get_emitter(request)
    result = await emitter.submit_candidate(member["account"], await request.body())
    return JSONResponse(result)
