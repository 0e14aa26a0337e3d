"""What the node's routes share: the node of the app, and the reading of EOSIO-style arguments.

EOSIO clients POST their arguments as a JSON object; browsers and scripts GET them as query
parameters. Both arrive merged by :func:`read_params`, and every value is checked here with a
4xx naming the argument.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request

from chain.core.codec import decode_json
from chain.core.errors import MalformedInput
from chain.core.types import is_valid_account_name
from chain.node.node import Node
from service_shell.web import ApiError, int_field


def get_node(request: Request) -> Node:
    """The node the app serves."""
    node: Node = request.app.state.node
    return node


async def read_params(request: Request) -> dict[str, Any]:
    """Query parameters merged with a JSON object body (EOSIO clients POST their arguments)."""
    params: dict[str, Any] = dict(request.query_params)
    body = await request.body()
    if body.strip():
        try:
            data = decode_json(body)
        except MalformedInput as exc:
            raise ApiError(400, "malformed", exc.message) from None
        if not isinstance(data, dict):
            raise ApiError(400, "malformed", "request body must be a JSON object")
        params.update(data)
    return params


def require_account_name(params: dict[str, Any], *keys: str) -> str:
    """The first of ``keys`` present in ``params``, checked as an account name."""
    for key in keys:
        if key in params:
            name = params[key]
            if not is_valid_account_name(name):
                raise ApiError(400, "invalid_name", f"{key}: {name!r} is not a valid account name")
            return str(name)
    raise ApiError(400, "missing_field", f"missing field {keys[0]}")


def int_param(
    params: dict[str, Any], key: str, default: int, *, minimum: int = 0, maximum: int = 10_000
) -> int:
    """An integer parameter within bounds (a 400 naming ``key`` otherwise)."""
    return int_field(params.get(key, default), key, minimum=minimum, maximum=maximum)
