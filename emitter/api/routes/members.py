"""Applications, membership and member statistics.

Spec: ``docs/spec/pool.md`` §3 (a member's life).
"""

from __future__ import annotations

from fastapi import APIRouter, Request

from emitter import crud
from emitter.api import schemas
from emitter.api.deps import AdminDep, AnyMemberDep, EmitterDep
from service_shell.apidocs import SIGNED, SIGNED_ERRORS, WRITE_ERRORS, json_body
from service_shell.web import ApiError, JSONResponse, read_json_object

router = APIRouter(prefix="/v1/pool", tags=["members"])


@router.post(
    "/apply",
    status_code=202,
    response_model=schemas.MemberStatus,
    responses=WRITE_ERRORS,
    openapi_extra=json_body(schemas.Application),
)
async def apply(request: Request, emitter: EmitterDep) -> JSONResponse:
    """Apply to join: a signed application accepting the latest constitution hash."""
    result = emitter.apply(await read_json_object(request))
    return JSONResponse(result, status_code=202)


@router.get("/members", response_model=schemas.Members)
async def members(emitter: EmitterDep) -> JSONResponse:
    """Every member with its status and statistics."""
    stats = crud.member_stats(emitter.engine)
    rows = []
    for account, member in sorted(emitter.members.items()):
        rows.append(
            {
                "account": account,
                "status": member["status"],
                "endpoint": member["endpoint"],
                "public_key": member["public_key"],
                "constitution_hash": member["constitution_hash"],
                "stats": stats.get(account, {"deliveries": 0, "valid": 0, "wins": 0, "rejections": {}}),
            }
        )
    return JSONResponse({"members": rows})


@router.get("/members/me", response_model=schemas.Me, responses=SIGNED_ERRORS, openapi_extra=SIGNED)
async def me(emitter: EmitterDep, member: AnyMemberDep) -> JSONResponse:
    """The requesting member's status and statistics (signed request)."""
    account = member["account"]
    stats = crud.member_stats(emitter.engine, member=account).get(
        account, {"deliveries": 0, "valid": 0, "wins": 0}
    )
    return JSONResponse({"account": account, "status": member["status"], "stats": stats})


@router.post(
    "/admin/members/{account}/{action}",
    response_model=schemas.MemberStatus,
    responses=SIGNED_ERRORS,
    openapi_extra=SIGNED,
)
async def admin_member(account: str, action: str, emitter: EmitterDep, admin: AdminDep) -> JSONResponse:
    """Admit, suspend, reinstate or remove a member (signed with the pool key)."""
    if action not in ("admit", "suspend", "reinstate", "remove"):
        raise ApiError(400, "unknown_action", "action must be admit, suspend, reinstate or remove")
    return JSONResponse(emitter.set_status(account, action, by=admin["account"]))
