"""The append-only event log (public: the DAC and auditors read it)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from emitter import crud
from emitter.api import schemas
from emitter.api.deps import EmitterDep
from service_shell.web import ApiError, Int64, JSONResponse

router = APIRouter(prefix="/v1/pool", tags=["events"])


@router.get("/events", response_model=schemas.Events)
async def events(
    emitter: EmitterDep,
    after_id: Int64 = 0,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 500,
    kind: str | None = None,
    member: str | None = None,
    slot: Int64 | None = None,
    slot_from: Int64 | None = None,
    slot_to: Int64 | None = None,
) -> JSONResponse:
    """Events with ``id > after_id`` in order; page with ``next_after_id``.

    Filters: ``kind``, ``member``, ``slot`` (exact), ``slot_from`` (inclusive) and ``slot_to``
    (exclusive) for a range of slots such as an epoch.
    """
    if slot_from is not None and slot_to is not None and slot_to < slot_from:
        raise ApiError(400, "malformed", "slot_to must be >= slot_from")
    rows = crud.list_events(
        emitter.engine,
        after_id=after_id,
        limit=limit,
        kind=kind,
        member=member,
        slot=slot,
        slot_from=slot_from,
        slot_to=slot_to,
    )
    return JSONResponse({"events": rows, "next_after_id": rows[-1]["id"] if rows else after_id})


@router.get("/evidence", response_model=schemas.Evidence)
async def evidence(emitter: EmitterDep, slot: Int64 | None = None) -> JSONResponse:
    """Candidates kept as evidence (equivocations)."""
    return JSONResponse({"evidence": crud.list_evidence(emitter.engine, slot=slot)})
