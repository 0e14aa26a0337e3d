"""Attribute helpers: a lock-free cached attribute for immutable containers, and an
attribute forwarded from a member.

``functools.cached_property`` takes a lock on first access in Python 3.11, which costs more
than computing a transaction id. Containers here are immutable and each is computed by one
thread at a time; computing a value twice in a race would give the same value, so no lock
is needed.
"""

from __future__ import annotations

from collections.abc import Callable
from operator import attrgetter
from typing import Any, Generic, TypeVar, overload

T = TypeVar("T")


class cached(Generic[T]):  # noqa: N801 - used like a decorator, as cached_property is
    """Compute on first access, then store in the instance ``__dict__`` (non-data descriptor)."""

    def __init__(self, fn: Callable[[Any], T]) -> None:
        self.fn = fn
        self.name = fn.__name__
        self.__doc__ = fn.__doc__

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> cached[T]: ...

    @overload
    def __get__(self, obj: object, owner: type | None = None) -> T: ...

    def __get__(self, obj: object | None, owner: type | None = None) -> T | cached[T]:
        if obj is None:
            return self
        value = self.fn(obj)
        obj.__dict__[self.name] = value
        return value


class Forward(Generic[T]):
    """A read-only attribute read from a member by a dotted path: ``slot = Forward[Slot]("header.slot")``."""

    __slots__ = ("_get",)

    def __init__(self, path: str) -> None:
        self._get = attrgetter(path)

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> Forward[T]: ...

    @overload
    def __get__(self, obj: object, owner: type | None = None) -> T: ...

    def __get__(self, obj: object | None, owner: type | None = None) -> T | Forward[T]:
        if obj is None:
            return self
        value: T = self._get(obj)
        return value
