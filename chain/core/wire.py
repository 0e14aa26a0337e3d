"""Wire objects of the containers, derived from their dataclass fields.

A container declares its fields and nothing else: each field is read by the validator of its
semantic type (:data:`chain.core.types.VALIDATORS`), by a nested container's own fields, or by
the parser its metadata names (``field(metadata=wire(...))``). :func:`parse_fields` reads a
wire object (unknown fields refused, fields without a default required) and
:func:`fields_to_dict` writes one back, in declaration order. The specs are built once per
class, on first use.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable
from dataclasses import dataclass
from operator import attrgetter
from typing import Any, TypeVar

from .errors import MalformedInput
from .types import (
    VALIDATORS,
    validate_account_name,
    validate_amount,
    validate_hash,
    validate_int,
    validate_object,
    validate_str,
)

# --- types ---------------------------------------------------------------------------------

Parser = Callable[[Any, str], Any]
"""Reads one field: ``(wire value, field path) -> value``, raising :class:`MalformedInput`."""
Encoder = Callable[[Any], Any]
"""Writes one field: ``value -> JSON-ready value``."""
Omit = Callable[[Any], bool]
"""Whether to leave a field out of a container's wire object: ``container -> bool``."""

C = TypeVar("C")

_KEY = "wire"


@dataclass(frozen=True, slots=True)
class WireField:
    """How one field is read and written."""

    name: str
    parse: Parser
    encode: Encoder | None
    omit: Omit | None


@dataclass(frozen=True, slots=True)
class WireSpec:
    """How a container is read and written: its fields, which are allowed and required, one
    getter of all their values, and the fields to encode or omit after that."""

    fields: tuple[WireField, ...]
    names: tuple[str, ...]
    allowed: frozenset[str]
    required: frozenset[str]
    values: Callable[[Any], tuple[Any, ...]]
    special: tuple[WireField, ...]


# --- field parsers -------------------------------------------------------------------------


def wire(
    parse: Parser | None = None,
    *,
    encode: Encoder | None = None,
    omit: bool | Omit = False,
    required: bool | None = None,
) -> dict[str, Any]:
    """Field metadata: read the field with ``parse`` (default: by its type), write it with
    ``encode``; ``omit`` leaves it out of the wire object when it holds its default (or when
    the predicate says so); ``required`` overrides "required unless it has a default"."""
    return {_KEY: (parse, encode, omit, required)}


def text(max_length: int) -> Parser:
    """A string of at most ``max_length`` characters."""
    return lambda value, where: validate_str(value, where, max_length=max_length)


def integer(maximum: int) -> Parser:
    """A non-negative integer of at most ``maximum``."""
    return lambda value, where: validate_int(value, where, maximum=maximum)


def amount_or_zero(value: Any, where: str) -> int:
    """An amount that may be zero (fees, prices, deposits)."""
    return validate_amount(value, where, allow_zero=True)


def optional_name(value: Any, where: str) -> str:
    """An account name, or ``""`` for any false value."""
    return validate_account_name(value, where) if value else ""


def optional_hash(value: Any, where: str) -> str:
    """A hash, or ``""`` for ``null`` and ``""``."""
    return "" if value in (None, "") else validate_hash(value, where)


def optional_bool(value: Any, where: str) -> bool | None:
    """``true``, ``false`` or ``null``."""
    if value is not None and type(value) is not bool:
        raise MalformedInput(f"{where}: expected true or false")
    return value


def json_object(value: Any, where: str) -> dict[str, Any]:
    """Any JSON object (its content is checked where its schema is known)."""
    if not isinstance(value, dict):
        raise MalformedInput(f"{where}: expected an object")
    return value


# --- specs ---------------------------------------------------------------------------------

_SPECS: dict[type, WireSpec] = {}


def _omitted_when_default(name: str, default: Any) -> Omit:
    return lambda container: bool(getattr(container, name) == default)


def _nested(cls: type) -> Parser:
    return lambda value, where: parse_fields(cls, value, where, f"{where}.")


def _field_spec(cls: type, item: dataclasses.Field[Any], kind: Any) -> tuple[WireField, bool]:
    parse, encode, omit, required = item.metadata.get(_KEY, (None, None, False, None))
    if parse is None and kind in VALIDATORS:
        parse = VALIDATORS[kind]
    elif parse is None and dataclasses.is_dataclass(kind):
        parse, encode = _nested(kind), encode or fields_to_dict  # type: ignore[arg-type]
    elif parse is None:
        raise TypeError(f"{cls.__name__}.{item.name}: no validator for {kind!r}")
    has_default = item.default is not dataclasses.MISSING or item.default_factory is not dataclasses.MISSING
    if omit is True:
        omit = _omitted_when_default(item.name, item.default)
    spec = WireField(item.name, parse, encode, omit or None)
    return spec, (not has_default) if required is None else required


def _getter(names: tuple[str, ...]) -> Callable[[Any], tuple[Any, ...]]:
    if len(names) > 1:
        return attrgetter(*names)  # one C call for every field
    if names:
        name = names[0]
        return lambda container: (getattr(container, name),)
    return lambda container: ()


def wire_spec(cls: type) -> WireSpec:
    """The wire spec of dataclass ``cls`` (built on first use)."""
    spec = _SPECS.get(cls)
    if spec is not None:
        return spec
    hints = typing.get_type_hints(cls)
    fields, required = [], set()
    for item in dataclasses.fields(cls):
        field, is_required = _field_spec(cls, item, hints[item.name])
        fields.append(field)
        if is_required:
            required.add(field.name)
    names = tuple(f.name for f in fields)
    special = tuple(f for f in fields if f.encode is not None or f.omit is not None)
    spec = WireSpec(tuple(fields), names, frozenset(names), frozenset(required), _getter(names), special)
    _SPECS[cls] = spec
    return spec


# --- reading and writing -------------------------------------------------------------------


def parse_fields(cls: type[C], data: Any, where: str, prefix: str) -> C:
    """Read the wire object ``data`` into ``cls``; errors name ``where`` (the object) or
    ``prefix`` + the field."""
    plan = _PLANS.get((cls, prefix)) or _plan(cls, prefix)
    validate_object(data, where, plan[0], plan[1])
    return cls(**{name: parse(data[name], path) for name, parse, path in plan[2] if name in data})


_PLANS: dict[
    tuple[type, str], tuple[frozenset[str], frozenset[str], tuple[tuple[str, Parser, str], ...]]
] = {}


def _plan(
    cls: type, prefix: str
) -> tuple[frozenset[str], frozenset[str], tuple[tuple[str, Parser, str], ...]]:
    """What :func:`parse_fields` needs of ``cls`` read under ``prefix`` (built once)."""
    spec = _SPECS.get(cls) or wire_spec(cls)
    paths = tuple((f.name, f.parse, prefix + f.name) for f in spec.fields)
    plan = _PLANS[(cls, prefix)] = (spec.allowed, spec.required, paths)
    return plan


def fields_to_dict(container: Any) -> dict[str, Any]:
    """The wire object of a dataclass container (JSON-ready)."""
    spec = _SPECS.get(type(container)) or wire_spec(type(container))
    if not spec.special:
        # A frozen dataclass's ``__dict__`` holds exactly its fields, in order, unless a cached
        # attribute was stored beside them: then read the fields one by one.
        own = getattr(container, "__dict__", None)
        if own is not None and len(own) == len(spec.names):
            return dict(own)
    data = dict(zip(spec.names, spec.values(container)))  # noqa: B905 - one spec, same length
    for f in spec.special:
        if f.omit is not None and f.omit(container):
            del data[f.name]
        elif f.encode is not None:
            data[f.name] = f.encode(data[f.name])
    return data
