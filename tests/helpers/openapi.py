"""Checks of a service's OpenAPI: what every operation must declare."""

from __future__ import annotations

from typing import Any

from chain.core.types import INT64_MAX

ERROR_REF = "#/components/schemas/ErrorBody"
SIGNED: dict[str, list[str]] = {"bpMember": [], "bpTimestamp": [], "bpSignature": []}


def operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """``(method, path, operation)`` of every operation."""
    return [(method.upper(), path, op) for path, item in spec["paths"].items() for method, op in item.items()]


def unbounded_integers(spec: dict[str, Any], node: Any, where: str, seen: set[str]) -> list[str]:
    """Where an integer of the input (``node``, following ``$ref``) has no maximum the stores hold."""
    found: list[str] = []
    if isinstance(node, list):
        for i, item in enumerate(node):
            found += unbounded_integers(spec, item, f"{where}[{i}]", seen)
    elif isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref not in seen:
            seen.add(ref)
            name = ref.rsplit("/", 1)[1]
            found += unbounded_integers(spec, spec["components"]["schemas"][name], name, seen)
        if node.get("type") == "integer" and not node.get("maximum", INT64_MAX + 1) <= INT64_MAX:
            found.append(where)
        for key, value in node.items():
            if key != "$ref":
                found += unbounded_integers(spec, value, f"{where}.{key}", seen)
    return found


def assert_documented(spec: dict[str, Any], *, signed: set[str], sse: dict[str, set[str]]) -> None:
    """Every success answer has a real schema, every error answer the one error body, POST
    bodies are declared, every integer of the input is bounded (signed 64-bit at most),
    ``signed`` operations (``"METHOD /path"``) require the ``X-BP-*`` headers, and event
    streams name their events."""
    assert set(spec["components"]["securitySchemes"]) == set(SIGNED)
    problems = []
    for method, path, op in operations(spec):
        where = f"{method} {path}"
        responses = op["responses"]
        ok = [code for code in responses if code.startswith("2")]
        if len(ok) != 1:
            problems.append(f"{where}: success answers {ok}")
            continue
        content = responses[ok[0]].get("content", {})
        for media, body in content.items():
            if media == "application/json" and body.get("schema") in (None, {}, {"type": "string"}):
                problems.append(f"{where}: {ok[0]} declared as {body.get('schema')}")
        for code, answer in responses.items():
            is_error = code[0] == "4" or (code == "503" and path != "/readyz")
            schema = answer.get("content", {}).get("application/json", {}).get("schema")
            if is_error and schema != {"$ref": ERROR_REF}:
                problems.append(f"{where}: {code} is not the error body")
        if "422" not in responses:
            problems.append(f"{where}: 422 undeclared")
        takes_body = not path.endswith(("/cancel", "/execute", "/{action}"))
        if method == "POST" and takes_body and "requestBody" not in op:
            problems.append(f"{where}: no request body declared")
        # Every number from outside fits the stores (signed 64-bit)
        inputs = [op.get("parameters", []), op.get("requestBody", {})]
        problems += [f"{where}: unbounded integer {w}" for w in unbounded_integers(spec, inputs, "", set())]
        is_signed = op.get("security") == [SIGNED]
        if is_signed != (where in signed):
            problems.append(f"{where}: signed is {is_signed}")
        if where in sse:
            stream = content.get("text/event-stream", {}).get("schema", {})
            if set(stream.get("properties", {}).get("event", {}).get("enum", ())) != sse[where]:
                problems.append(f"{where}: events {stream}")
    assert not problems, "\n".join(problems)
