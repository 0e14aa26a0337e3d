"""Dependencies shared by the emitter routes: the service and authenticated members."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request

from emitter.service import Emitter
from service_shell.web import ApiError


def get_emitter(request: Request) -> Emitter:
    emitter: Emitter = request.app.state.emitter
    return emitter


EmitterDep = Annotated[Emitter, Depends(get_emitter)]


async def authenticate(request: Request, *, require_active: bool = True) -> dict[str, Any]:
    """The member behind a signed request (401/403 otherwise)."""
    return get_emitter(request).authenticate_request(
        request.headers,
        method=request.method,
        path=request.scope["path"],  # what the client asked for (the URL object costs more)
        body=await request.body(),
        require_active=require_active,
    )


async def active_member(request: Request) -> dict[str, Any]:
    return await authenticate(request)


async def any_member(request: Request) -> dict[str, Any]:
    return await authenticate(request, require_active=False)


async def pool_admin(request: Request) -> dict[str, Any]:
    """A request signed with the pool's own key."""
    row = await authenticate(request)
    if row["status"] != "pool":
        raise ApiError(403, "not_pool_admin", "admin actions must be signed with the pool producer's key")
    return row


MemberDep = Annotated[dict[str, Any], Depends(active_member)]
AnyMemberDep = Annotated[dict[str, Any], Depends(any_member)]
AdminDep = Annotated[dict[str, Any], Depends(pool_admin)]
