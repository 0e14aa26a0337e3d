"""HTTP plumbing shared by every bppool service: the app's frame, JSON errors, body limits,
fast JSON.

Every error a bppool service returns has one shape, whatever raised it:
``{"error": {"code": "nonce_mismatch", "message": "nonce 5 but alice's next nonce is 3"}}``
with a 4xx status for bad input. ``code`` is stable for scripts; ``message`` is for people.

Every number from outside is checked here against what the system can hold: the stores keep
integers as signed 64-bit (SQLite INTEGER, PostgreSQL BIGINT), so ids, slots, heights and
epochs are :data:`Int64` in path, query and body models, and :func:`int_field` for values
read by hand; digits are ASCII only.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Annotated, Any

import orjson
from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse as StarletteJSONResponse
from starlette.responses import Response
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chain.core.codec import decode_json
from chain.core.errors import (
    ChainError,
    ConflictsWithFinalized,
    DuplicateTransaction,
    ForkChoiceError,
    KnownInvalid,
    MalformedInput,
    UnknownParent,
)
from chain.core.types import INT64_MAX

if TYPE_CHECKING:
    from service_shell.hotroutes import HotRoutes

Int64 = Annotated[int, Field(ge=0, le=INT64_MAX)]
"""A non-negative integer the stores can hold, for path, query and body fields: anything else
(out of range, not ASCII digits) is a 422 naming the field."""

HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")

_ASCII_INT = re.compile(r"-?[0-9]+")


class JSONResponse(StarletteJSONResponse):
    """A JSON response encoded with orjson (fast, and integers stay integers); a starlette
    ``JSONResponse`` so that FastAPI documents routes' models as JSON."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


class ApiError(Exception):
    """An error with an HTTP status, a stable code and a human message."""

    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra

    def to_dict(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, **self.extra}}


def int_field(raw: Any, field: str, *, minimum: int = 0, maximum: int = INT64_MAX) -> int:
    """``raw`` (a JSON integer, or a string of ASCII digits as query parameters come) as an
    integer in ``[minimum, maximum]``, or a 400 naming ``field``."""
    if type(raw) is int:
        value = raw
    elif isinstance(raw, str) and _ASCII_INT.fullmatch(raw):
        if len(raw.lstrip("-").lstrip("0")) > 19:  # no 4,300-digit conversions
            raise ApiError(400, "malformed", f"{field}: {raw[:24]!r} is outside [{minimum}, {maximum}]")
        value = int(raw)
    else:
        raise ApiError(400, "malformed", f"{field}: expected an integer, got {str(raw)[:40]!r}")
    if not minimum <= value <= maximum:
        raise ApiError(400, "malformed", f"{field}: {value} is outside [{minimum}, {maximum}]")
    return value


def error_response(status: int, code: str, message: str, **extra: Any) -> JSONResponse:
    """A response in the project's error shape."""
    return JSONResponse({"error": {"code": code, "message": message, **extra}}, status_code=status)


def status_for_chain_error(exc: ChainError) -> int:
    """The HTTP status for a chain-core error: 409 for conflicts with what the node already
    has (unknown parent, finalized history, duplicates), 503 when full, 400 otherwise."""
    if isinstance(exc, (UnknownParent, ConflictsWithFinalized, KnownInvalid, ForkChoiceError)):
        return 409
    if isinstance(exc, DuplicateTransaction):
        return 409
    if exc.code == "mempool_full":
        return 503
    return 400


def error_content_for(exc: Exception) -> tuple[int, dict[str, Any]] | None:
    """The status and JSON error content for a known error type, or ``None`` for anything else."""
    if isinstance(exc, ApiError):
        return exc.status, exc.to_dict()
    if isinstance(exc, ChainError):
        return status_for_chain_error(exc), {"error": {"code": exc.code, "message": exc.message}}
    return None


def service_app(
    *,
    title: str,
    version: str,
    description: str,
    start: Callable[[], Awaitable[Any]] | None,
    stop: Callable[[], Awaitable[Any]] | None,
) -> FastAPI:
    """A service's FastAPI app: refused as one of several workers, its lifespan running
    ``start`` and ``stop`` (when given) around its life, answering with orjson, every error in
    the project's shape and its OpenAPI completed (:mod:`service_shell.apidocs`)."""
    from service_shell.apidocs import install_openapi
    from service_shell.metrics import require_single_worker

    require_single_worker()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if start is not None:
            await start()
        try:
            yield
        finally:
            if stop is not None:
                await stop()

    app = FastAPI(
        title=title,
        version=version,
        description=description,
        lifespan=lifespan,
        default_response_class=JSONResponse,
    )
    install_error_handlers(app)
    install_openapi(app)
    return app


def mount_routes(
    app: FastAPI, routers: Iterable[APIRouter], *, body_limit: int, hot_routes: HotRoutes
) -> None:
    """Mount ``routers`` (each documenting the read errors), refuse request bodies over
    ``body_limit`` bytes, and serve ``hot_routes``: by the HTTP protocol under
    :func:`service_shell.clitools.run_app`, which finds them in ``app.state.hot_routes``, by
    the middleware added here under any other ASGI server (:mod:`service_shell.hotroutes`)."""
    from service_shell.apidocs import READ_ERRORS
    from service_shell.hotroutes import HotRoutesMiddleware

    for router in routers:
        app.include_router(router, responses=READ_ERRORS)
    app.add_middleware(BodyLimitMiddleware, limit=body_limit)
    app.state.hot_routes = hot_routes
    app.add_middleware(HotRoutesMiddleware, routes=hot_routes)


def install_error_handlers(app: FastAPI) -> None:
    """Map every error to the project's JSON error shape."""

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> Response:
        return JSONResponse(exc.to_dict(), status_code=exc.status)

    @app.exception_handler(ChainError)
    async def _chain_error(request: Request, exc: ChainError) -> Response:
        return error_response(status_for_chain_error(exc), exc.code, exc.message)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        parts = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
            parts.append(f"{where}: {err.get('msg')}" if where else str(err.get("msg")))
        return error_response(422, "invalid_request", "; ".join(parts) or "invalid request")

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        code = {404: "not_found", 405: "method_not_allowed", 413: "body_too_large"}.get(
            exc.status_code, "http_error"
        )
        response = error_response(exc.status_code, code, str(exc.detail))
        if exc.headers:
            response.headers.update(exc.headers)
        if exc.status_code == 405:
            response.headers["allow"] = ", ".join(allowed_methods(request))
        return response


def allowed_methods(request: Request) -> list[str]:
    """Every method the app serves at the request's path (asked of the app's routes, so a
    path with a route per method lists them all)."""
    routes = request.app.router.routes
    return [
        method
        for method in HTTP_METHODS
        if any(route.matches({**request.scope, "method": method})[0] == Match.FULL for route in routes)
    ]


class BodyLimitMiddleware:
    """Refuse request bodies over ``limit`` bytes with a JSON 413, before reading them all
    (hot routes have limits of their own, see :mod:`service_shell.hotroutes`)."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
                if declared > limit:
                    await send_json(send, 413, too_large_body(limit))
                    return
        received = 0
        too_large = False

        async def limited_receive() -> Message:
            nonlocal received, too_large
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    too_large = True
                    raise _BodyTooLarge()
            return message

        try:
            await self.app(scope, limited_receive, send)
        except _BodyTooLarge:
            await send_json(send, 413, too_large_body(limit))


class _BodyTooLarge(Exception):
    pass


def too_large_body(limit: int) -> bytes:
    """The JSON error body of a 413 for ``limit``."""
    return orjson.dumps(
        {"error": {"code": "body_too_large", "message": f"request body exceeds {limit} bytes"}}
    )


async def send_json(send: Send, status: int, body: bytes) -> None:
    """Send a whole JSON answer on an ASGI ``send``."""
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def read_json(request: Request) -> Any:
    """The request body parsed as JSON, or a 400 naming the problem."""
    body = await request.body()
    if not body:
        raise ApiError(400, "malformed", "request body is empty; expected JSON")
    try:
        return decode_json(body)
    except MalformedInput as exc:
        raise ApiError(400, "malformed", exc.message) from None


async def read_json_object(request: Request) -> dict[str, Any]:
    """The request body as a JSON object, or a 400."""
    data = await read_json(request)
    if not isinstance(data, dict):
        raise ApiError(400, "malformed", "request body must be a JSON object")
    return data
