"""The slot feed (server-sent events and polling) and slot outcomes.

Spec: ``docs/spec/pool.md`` §4 (the slot feed).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query
from fastapi.sse import EventSourceResponse, ServerSentEvent

from emitter import crud
from emitter.api import schemas
from emitter.api.deps import EmitterDep, MemberDep
from service_shell.apidocs import SIGNED, SIGNED_ERRORS, event_stream
from service_shell.web import ApiError, Int64, JSONResponse

router = APIRouter(prefix="/v1/pool/slots", tags=["slots"])


def _open_slot(emitter: EmitterDep) -> dict[str, object] | None:
    run = emitter.run
    if run is None or run.closed:
        return None
    return {
        "slot": run.slot,
        "height": run.height,
        "prev_id": run.prev_id,
        "slot_start_ms": run.start_ms,
        "deadline_ms": run.cutoff_at_ms,
        "pool": emitter.pool,
        "emitted": run.emitted is not None,
    }


@router.get(
    "/stream",
    response_class=EventSourceResponse,
    responses={
        **SIGNED_ERRORS,
        **event_stream(
            {
                "hello": "the pool, the member and the open slot (or null); first",
                "slot_open": "a pool slot opened (again, if it re-opens on a new parent)",
                "slot_closed": "a pool slot closed, with its outcome and winner",
            },
            "The slot feed.",
        ),
    },
    openapi_extra=SIGNED,
)
async def stream(emitter: EmitterDep, member: MemberDep) -> AsyncIterator[ServerSentEvent]:
    """``slot_open`` the moment a pool slot opens (and again if it re-opens on a new
    parent), ``slot_closed`` with its outcome. Signed request of an active member."""
    current = _open_slot(emitter)
    yield ServerSentEvent(
        event="hello",
        raw_data=orjson.dumps({"pool": emitter.pool, "member": member["account"], "open": current}).decode(),
    )
    async for event, data in emitter.feed.subscribe():
        yield ServerSentEvent(event=event, raw_data=orjson.dumps(data).decode())


@router.get("/current", response_model=schemas.CurrentSlot, responses=SIGNED_ERRORS, openapi_extra=SIGNED)
async def current(emitter: EmitterDep, member: MemberDep) -> JSONResponse:
    """The open pool slot (or null) and the next pool slots, for members that poll."""
    return JSONResponse({"open": _open_slot(emitter), "next_pool_slots": emitter.next_pool_slots(12)})


@router.get("", response_model=schemas.SlotOutcomes)
async def outcomes(
    emitter: EmitterDep, limit: Annotated[int, Query(ge=1, le=1000)] = 50, before_slot: Int64 | None = None
) -> JSONResponse:
    """Recent slot outcomes, newest first."""
    return JSONResponse({"slots": crud.slot_outcomes(emitter.engine, limit=limit, before_slot=before_slot)})


@router.get("/{slot}", response_model=dict[str, Any])
async def detail(slot: Int64, emitter: EmitterDep) -> JSONResponse:
    """One slot: outcome, winner, and every arrival with its offset and verdict."""
    found = crud.slot_detail(emitter.engine, slot=slot)
    if found is None:
        raise ApiError(404, "not_found", f"no record of pool slot {slot}")
    return JSONResponse(found)
