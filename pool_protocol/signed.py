"""What every signed document of the pool protocol shares: its body is its fields but the
signature, signed as canonical JSON under the class's domain, and read from a wire object by one
table of field parsers."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, fields, replace
from typing import Any, ClassVar, Self

from chain.core.codec import canonical_bytes_trusted
from chain.core.crypto import PrivateKey, verify_signature
from chain.core.errors import MalformedInput
from chain.core.types import validate_int, validate_object

Parser = Callable[[Any, str], Any]
"""Reads one field: ``(wire value, path in error messages) -> value``."""


def integer(minimum: int, maximum: int) -> Parser:
    """An integer in ``[minimum, maximum]``."""
    return lambda value, where: validate_int(value, where, minimum=minimum, maximum=maximum)


def one_of(choices: tuple[str, ...]) -> Parser:
    """One of ``choices``."""

    def parse(value: Any, where: str) -> str:
        if value not in choices:
            raise MalformedInput(f"{where}: must be one of {', '.join(choices)}")
        return str(value)

    return parse


class SignedDocument:
    """Base of the signed documents: frozen dataclasses with ``signature`` last.

    ``KIND`` names the document in errors, ``PREFIX`` goes before each field's name in them, and
    ``PARSERS`` reads each field, in the order the checks run."""

    DOMAIN: ClassVar[bytes] = b""
    KIND: ClassVar[str] = ""
    PREFIX: ClassVar[str] = ""
    PARSERS: ClassVar[Mapping[str, Parser]] = {}
    signature: str

    def body(self) -> dict[str, Any]:
        """The signed fields (all but the signature)."""
        data = asdict(self)  # type: ignore[call-overload]
        del data["signature"]
        return data  # type: ignore[no-any-return]

    def payload(self) -> bytes:
        """The bytes signed: the body's canonical JSON."""
        return canonical_bytes_trusted(self.body())

    def signed(self, key: PrivateKey) -> Self:
        """This document signed with ``key``."""
        return replace(self, signature=key.sign(self.DOMAIN, self.payload()))  # type: ignore[type-var]

    def verify(self, public_key: str) -> bool:
        """True when ``public_key`` signed this document."""
        return verify_signature(public_key, self.DOMAIN, self.payload(), self.signature)

    def to_dict(self) -> dict[str, Any]:
        """The wire object: every field, the signature last."""
        return asdict(self)  # type: ignore[call-overload, no-any-return]

    @classmethod
    def from_dict(cls, data: Any) -> Self:
        """Read a wire object: exactly the document's fields, each checked by its parser."""
        keys = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        validate_object(data, cls.KIND, keys, keys)
        return cls(**{name: parse(data[name], cls.PREFIX + name) for name, parse in cls.PARSERS.items()})
