"""The emitter's domain errors as HTTP answers: one table of statuses, one exception handler
(for the FastAPI routes, the DAC's mounted ones included) and one mapping for hot routes.

The body is the project's error shape, ``{"error": {"code", "message", ...extra}}``.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from starlette.responses import Response

from emitter.errors import (
    ActionNotAllowed,
    ApplicationRefused,
    CandidateConflict,
    CandidateInvalid,
    EmitterError,
    InvalidAction,
    Malformed,
    MemberNotActive,
    NotAnApplicant,
    SlotNotOpen,
    StorageUnavailable,
    TransitionRefused,
    UnknownMember,
)
from service_shell.web import JSONResponse

HTTP_STATUS: dict[type[EmitterError], int] = {
    Malformed: 400,
    CandidateInvalid: 400,
    CandidateConflict: 409,
    SlotNotOpen: 409,
    UnknownMember: 401,
    MemberNotActive: 403,
    ApplicationRefused: 400,
    NotAnApplicant: 404,
    InvalidAction: 400,
    ActionNotAllowed: 403,
    TransitionRefused: 409,
    StorageUnavailable: 503,
}
"""The HTTP status of each domain error (a subclass not listed takes its base's)."""


def status_for(exc: EmitterError) -> int:
    """The HTTP status answering ``exc``."""
    status = HTTP_STATUS.get(type(exc))
    if status is not None:
        return status
    for cls in type(exc).__mro__:
        if cls in HTTP_STATUS:
            return HTTP_STATUS[cls]
    return 400


def error_content(exc: EmitterError) -> tuple[int, dict[str, Any]]:
    """The status and JSON error body answering ``exc`` (a hot route's answer)."""
    return status_for(exc), exc.to_dict()


def install_emitter_errors(app: FastAPI) -> None:
    """Answer every :class:`EmitterError` with its status and the error body."""

    @app.exception_handler(EmitterError)
    async def _emitter_error(request: Request, exc: EmitterError) -> Response:
        return JSONResponse(exc.to_dict(), status_code=status_for(exc))
