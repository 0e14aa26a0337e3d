"""OpenAPI of the bppool services: the one error body, signed requests, event streams, and
request bodies that routes parse by hand.

Routes answer with :class:`~service_shell.web.JSONResponse` (orjson, no validation on the way out)
and many parse their body by hand (hot routes, signed documents, EOSIO-style parameters), so
FastAPI cannot infer their schemas. They are declared here instead, for the documentation and
for the API fuzzing in CI (``tests/fuzz``), which checks every answer against them:

- :func:`error_responses`: the statuses a route may answer with the error body
  ``{"error": {"code", "message"}}`` (:class:`ErrorBody`);
- :data:`SIGNED`: the ``X-BP-*`` headers of a signed request, as a security requirement
  (the three schemes together);
- :func:`json_body`: a request body declared by a model, for routes that parse it themselves;
- :func:`event_stream`: a ``text/event-stream`` answer with its event names;
- :func:`install_openapi`: adds the security schemes and the declared models to the app's
  schema, with integer bounds kept exact.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict

from chain.core.types import INT64_MAX

ERROR_DESCRIPTIONS = {
    400: "Invalid input: `code` names the failed check",
    401: "The request signature is missing, stale, replayed or does not verify",
    403: "The signer may not do this",
    404: "Not found",
    405: "Method not allowed (the `Allow` header lists the methods)",
    409: "Conflicts with the current state",
    413: "Request body too large",
    422: "A path, query or body field is not valid: the message names it",
    503: "Not ready, full, or storage unavailable; retry later",
}


class Open(BaseModel):
    """A JSON object that may carry more fields than the ones listed."""

    model_config = ConfigDict(extra="allow")


class Health(Open):
    """Liveness: the process answers."""

    status: str


class Readiness(Open):
    """Readiness (``/readyz`` answers 503 with ``ready: false`` while not ready)."""

    ready: bool


READINESS_RESPONSES: dict[int | str, dict[str, Any]] = {503: {"model": Readiness, "description": "Not ready"}}
"""``responses=`` of ``/readyz``: its 503 is a readiness report, not an error body."""


class ErrorDetail(BaseModel):
    """What went wrong: a stable ``code`` for scripts and a ``message`` for people."""

    model_config = ConfigDict(extra="allow")
    code: str
    message: str


class ErrorBody(BaseModel):
    """The one shape of every error answer."""

    error: ErrorDetail


_MODELS: dict[str, type[BaseModel]] = {}


def _ref(model: type[BaseModel]) -> dict[str, str]:
    _MODELS[model.__name__] = model
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route that may answer ``statuses`` with the error body (JSON, also
    on routes whose answer is another media type, such as event streams)."""
    content = {"application/json": {"schema": _ref(ErrorBody)}}
    return {status: {"description": ERROR_DESCRIPTIONS[status], "content": content} for status in statuses}


READ_ERRORS = error_responses(400, 404, 413, 422, 503)
"""What any route may answer with the error body (bad parameters, unknown ids, not ready)."""

WRITE_ERRORS = error_responses(400, 404, 409, 413, 422, 503)
"""An unsigned write: also conflicts with the state."""

SIGNED_ERRORS = error_responses(400, 401, 403, 404, 409, 413, 422, 503)
"""A signed request: also refused signatures and signers."""

SECURITY_SCHEMES = {
    "bpMember": {
        "type": "apiKey",
        "in": "header",
        "name": "X-BP-Member",
        "description": "The signer's account",
    },
    "bpTimestamp": {
        "type": "apiKey",
        "in": "header",
        "name": "X-BP-Timestamp",
        "description": "Milliseconds since the epoch, close to the server's clock",
    },
    "bpSignature": {
        "type": "apiKey",
        "in": "header",
        "name": "X-BP-Signature",
        "description": "ed25519 under `bppool/request/v1` over the canonical JSON of "
        "{chain_id, pool, method, path, timestamp, body_sha256} (lowercase hex)",
    },
}

SIGNED: dict[str, Any] = {"security": [dict.fromkeys(SECURITY_SCHEMES, [])]}
"""``openapi_extra=`` of a route that takes a signed request (all three headers)."""


def json_body(model: type[BaseModel], *, required: bool = True, description: str = "") -> dict[str, Any]:
    """``openapi_extra=`` declaring a JSON request body of ``model`` that the route parses itself."""
    body: dict[str, Any] = {"required": required, "content": {"application/json": {"schema": _ref(model)}}}
    if description:
        body["description"] = description
    return {"requestBody": body}


def query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    """OpenAPI query parameters for the fields of ``model`` (routes that read them by hand)."""
    schema = model.model_json_schema()
    required = set(schema.get("required", ()))
    return [
        {"name": name, "in": "query", "required": name in required, "schema": _not_null(field)}
        for name, field in schema["properties"].items()
    ]


def _not_null(field: dict[str, Any]) -> dict[str, Any]:
    """An optional query parameter's schema without its ``null`` (absent is how it is null)."""
    variants = [v for v in field.get("anyOf", ()) if v != {"type": "null"}]
    if "anyOf" not in field or len(variants) != 1:
        return field
    rest = {k: v for k, v in field.items() if k not in ("anyOf", "default")}
    return {**rest, **variants[0]}


def event_stream(events: dict[str, str], description: str) -> dict[int | str, dict[str, Any]]:
    """``responses=`` of a server-sent events route: each event is one of ``events`` (name to
    what its JSON ``data`` holds)."""
    names = ", ".join(f"`{name}` ({what})" for name, what in events.items())
    return {
        200: {
            "description": f"{description} Events: {names}.",
            "content": {
                "text/event-stream": {
                    "schema": {
                        "type": "object",
                        "description": "One event: its name, and its data as JSON text",
                        "required": ["event", "data"],
                        "properties": {
                            "event": {"type": "string", "enum": list(events)},
                            "data": {"type": "string", "contentMediaType": "application/json"},
                            "id": {"type": "string"},
                        },
                    }
                }
            },
        }
    }


def _refs(node: Any) -> Iterable[str]:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            yield ref.rsplit("/", 1)[1]
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _integer_bounds(node: Any) -> None:
    """Integer bounds as integers: FastAPI's OpenAPI model keeps bounds as floats, which turns
    the largest signed 64-bit integer into 2^63 (one past it)."""
    if isinstance(node, dict):
        if node.get("type") == "integer":
            for key in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
                value = node.get(key)
                if isinstance(value, float):
                    node[key] = min(int(value), INT64_MAX)
        for value in node.values():
            _integer_bounds(value)
    elif isinstance(node, list):
        for value in node:
            _integer_bounds(value)


def install_openapi(app: FastAPI) -> None:
    """Complete the app's OpenAPI: the ``X-BP-*`` security schemes and every model a
    :func:`json_body` refers to."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        spec = generate()
        components = spec.setdefault("components", {})
        components["securitySchemes"] = dict(SECURITY_SCHEMES)
        schemas = components.setdefault("schemas", {})
        missing = [name for name in _refs(spec) if name not in schemas]
        while missing:
            name = missing.pop()
            if name in schemas:
                continue
            model_schema = _MODELS[name].model_json_schema(ref_template="#/components/schemas/{model}")
            for sub, definition in model_schema.pop("$defs", {}).items():
                schemas.setdefault(sub, definition)
            schemas[name] = model_schema
            missing += [n for n in _refs(model_schema) if n not in schemas]
        _integer_bounds(spec)
        app.openapi_schema = spec
        return spec

    app.openapi = openapi  # type: ignore[method-assign]


__all__ = [
    "READINESS_RESPONSES",
    "READ_ERRORS",
    "SECURITY_SCHEMES",
    "SIGNED",
    "SIGNED_ERRORS",
    "WRITE_ERRORS",
    "ErrorBody",
    "ErrorDetail",
    "Health",
    "Open",
    "Readiness",
    "error_responses",
    "event_stream",
    "install_openapi",
    "json_body",
    "query_parameters",
]
