"""Conformance vectors: inputs and the outputs this implementation computes from them.

The layout follows consensus-spec-tests: ``<runner>/<handler>/<case>.json`` under one folder,
each file ``{"runner", "handler", "case", "description", "input", "output"}``. Every handler is
one function of the implementation run on ``input`` (:data:`HANDLERS`); generating writes what
it returns, checking runs it again on the committed inputs and compares. A member written in
another language runs the same inputs through its own code (``docs/spec/vectors.md`` says what
each handler computes and which section of the spec it follows).

The inputs are made here from fixed seeds (keys are ``sha256("bppool-vector-key/" + name)``),
so generating twice writes the same bytes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bppool.vectors.cases import cases
from bppool.vectors.handlers import HANDLERS

__all__ = ["HANDLERS", "cases", "check", "generate", "render"]


def render(runner: str, handler: str, case: str, description: str, data: dict[str, Any]) -> bytes:
    """One vector file's bytes: indented JSON, keys in a fixed order, a newline at the end."""
    output = HANDLERS[(runner, handler)](data)
    vector = {
        "runner": runner,
        "handler": handler,
        "case": case,
        "description": description,
        "input": data,
        "output": output,
    }
    return (json.dumps(vector, indent=1, ensure_ascii=False) + "\n").encode()


def generate(out: Path) -> dict[str, int]:
    """Write every vector under ``out`` (replacing what is there); the count per handler."""
    counts: dict[str, int] = {}
    for runner, handler, case, description, data in cases():
        path = out / runner / handler / f"{case}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(render(runner, handler, case, description, data))
        counts[f"{runner}/{handler}"] = counts.get(f"{runner}/{handler}", 0) + 1
    return counts


def check(folder: Path) -> tuple[int, list[str]]:
    """Run every vector under ``folder`` through this implementation: how many ran, and one
    line per vector whose output differs (or that cannot be read)."""
    problems: list[str] = []
    ran = 0
    for path in sorted(folder.rglob("*.json")):
        where = str(path.relative_to(folder))
        try:
            vector = json.loads(path.read_text())
            handler = HANDLERS[(vector["runner"], vector["handler"])]
        except (ValueError, KeyError, TypeError) as exc:
            problems.append(f"{where}: not a vector ({exc})")
            continue
        ran += 1
        got = json.loads(json.dumps(handler(vector["input"])))
        if got != vector["output"]:
            differing = sorted(
                k for k in set(got) | set(vector["output"]) if got.get(k) != vector["output"].get(k)
            )
            problems.append(f"{where}: output differs in {', '.join(differing)}")
    return ran, problems
