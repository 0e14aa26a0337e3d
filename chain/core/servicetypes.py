"""The type system of service I/O (MESG-style): definitions, typed values, result hashes.

A service definition ``{name, price, tasks: {task: {inputs, outputs, verification}}}`` names
each task's input and output fields with their types (``int``, ``str``, ``bool``, ``bytes``
and lists of those) and how its results are verified. Values sent to and from a task are
checked against those types and kept as canonical JSON. Pure: nothing here reads the state.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .codec import canonical_bytes_trusted, compute_id
from .errors import InvalidIO, MalformedInput, UnknownService
from .types import Hash32, validate_int, validate_object

# --- constants -----------------------------------------------------------------------------

MODES = ("reexecute", "external", "trusted")
SCALAR_TYPES = ("int", "str", "bool", "bytes")
VALUE_TYPES = SCALAR_TYPES + tuple(f"list[{t}]" for t in SCALAR_TYPES)
MAX_TASKS = 32
MAX_FIELDS = 16
MAX_INT = 2**63 - 1
MAX_TASK_NAME_LENGTH = 64
# Always used with ``fullmatch``: ``match`` with ``$`` would take a trailing newline.
_NAME_RE = re.compile(r"[a-z][a-z0-9_.-]{0,63}")
_FIELD_RE = re.compile(r"[a-z_][a-z0-9_]{0,31}")
_HEX_RE = re.compile(r"(?:[0-9a-f]{2})*")
_IS_SCALAR = {
    "int": lambda v: type(v) is int and -MAX_INT - 1 <= v <= MAX_INT,
    "str": lambda v: isinstance(v, str),
    "bool": lambda v: type(v) is bool,
    "bytes": lambda v: isinstance(v, str) and _HEX_RE.fullmatch(v) is not None,
}

# --- containers ----------------------------------------------------------------------------


@dataclass(frozen=True)
class TaskSpec:
    """One task of a service: typed inputs and outputs, and how its results are verified."""

    name: str
    inputs: tuple[tuple[str, str], ...]
    outputs: tuple[tuple[str, str], ...]
    verification: str


@dataclass(frozen=True)
class ServiceSpec:
    """A parsed service definition."""

    name: str
    price: int
    tasks: dict[str, TaskSpec]


# --- definitions ---------------------------------------------------------------------------


def _check_fields(value: Any, where: str) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, dict):
        raise MalformedInput(f"{where}: expected an object of field name -> type")
    if len(value) > MAX_FIELDS:
        raise MalformedInput(f"{where}: more than {MAX_FIELDS} fields")
    found = []
    for name, kind in sorted(value.items()):
        if not isinstance(name, str) or not _FIELD_RE.fullmatch(name):
            raise MalformedInput(f"{where}: {name!r} is not a field name (a-z, 0-9, _; 32 at most)")
        if kind not in VALUE_TYPES:
            raise MalformedInput(f"{where}.{name}: type {kind!r} is not one of {', '.join(VALUE_TYPES)}")
        found.append((name, str(kind)))
    return tuple(found)


def _parse_task(task_name: Any, spec: Any) -> TaskSpec:
    where = f"definition.tasks.{task_name}"
    if not isinstance(task_name, str) or not _NAME_RE.fullmatch(task_name):
        raise MalformedInput(f"{where}: not a task name")
    validate_object(spec, where, {"inputs", "outputs", "verification"}, {"inputs", "outputs", "verification"})
    if spec["verification"] not in MODES:
        raise MalformedInput(f"{where}.verification: one of {', '.join(MODES)}")
    return TaskSpec(
        task_name,
        _check_fields(spec["inputs"], f"{where}.inputs"),
        _check_fields(spec["outputs"], f"{where}.outputs"),
        str(spec["verification"]),
    )


def parse_definition(data: Any) -> ServiceSpec:
    """A service definition ``{name, price, tasks: {task: {inputs, outputs, verification}}}``."""
    validate_object(data, "definition", {"name", "price", "tasks"}, {"name", "price", "tasks"})
    name = data["name"]
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        raise MalformedInput(
            "definition.name: 1-64 characters of a-z, 0-9, '_', '.', '-' starting with a letter"
        )
    price = validate_int(data["price"], "definition.price")
    tasks_data = data["tasks"]
    if not isinstance(tasks_data, dict) or not tasks_data:
        raise MalformedInput("definition.tasks: expected a non-empty object")
    if len(tasks_data) > MAX_TASKS:
        raise MalformedInput(f"definition.tasks: more than {MAX_TASKS} tasks")
    tasks = {task_name: _parse_task(task_name, spec) for task_name, spec in sorted(tasks_data.items())}
    return ServiceSpec(name, price, tasks)


def definition_to_dict(spec: ServiceSpec) -> dict[str, Any]:
    """The canonical JSON-ready form of a parsed definition."""
    return {
        "name": spec.name,
        "price": spec.price,
        "tasks": {
            t.name: {"inputs": dict(t.inputs), "outputs": dict(t.outputs), "verification": t.verification}
            for t in spec.tasks.values()
        },
    }


def compute_service_id(definition: dict[str, Any]) -> Hash32:
    """A service's id: the id of its canonical definition."""
    return compute_id(definition_to_dict(parse_definition(definition)))


def get_task(spec: ServiceSpec, task: str) -> TaskSpec:
    """The task ``task`` of a service, or :class:`UnknownService`."""
    found = spec.tasks.get(task)
    if found is None:
        raise UnknownService(
            f"service {spec.name} has no task {task!r}; it has {', '.join(sorted(spec.tasks))}"
        )
    return found


# --- typed values --------------------------------------------------------------------------


def _check_value(value: Any, kind: str, where: str) -> None:
    if kind.startswith("list["):
        if not isinstance(value, list):
            raise InvalidIO(f"{where}: expected a list ({kind})")
        inner = kind[5:-1]
        for i, item in enumerate(value):
            _check_value(item, inner, f"{where}[{i}]")
        return
    if not _IS_SCALAR[kind](value):
        hint = " (lowercase hex)" if kind == "bytes" else ""
        raise InvalidIO(f"{where}: expected {kind}{hint}, got {type(value).__name__}")


def check_values(values: Any, fields: tuple[tuple[str, str], ...], where: str, max_bytes: int) -> str:
    """``values`` checked against the typed ``fields``; returns their canonical JSON."""
    if not isinstance(values, dict):
        raise InvalidIO(f"{where}: expected an object")
    expected = dict(fields)
    unknown = set(values) - set(expected)
    if unknown:
        raise InvalidIO(f"{where}: unknown field(s) {', '.join(sorted(map(str, unknown)))}")
    missing = set(expected) - set(values)
    if missing:
        raise InvalidIO(f"{where}: missing field(s) {', '.join(sorted(missing))}")
    for name, kind in fields:
        _check_value(values[name], kind, f"{where}.{name}")
    encoded = canonical_bytes_trusted(values)
    if len(encoded) > max_bytes:
        raise InvalidIO(f"{where}: {len(encoded)} bytes exceed the {max_bytes}-byte limit")
    return encoded.decode()


def compute_result_hash(outputs: dict[str, Any] | None, error: str | None) -> Hash32:
    """What verifiers recompute: the id of ``{"outputs": ...}`` or ``{"error": ...}``."""
    return compute_id({"error": error} if error is not None else {"outputs": outputs})
