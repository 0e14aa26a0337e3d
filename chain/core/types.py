"""Semantic types, constants and the validators of primitive values.

Reads top to bottom like a spec: types, constants, then the small validators every
container uses (account names, amounts, hex strings).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from collections.abc import Set as AbstractSet
from typing import Any, NewType

from .errors import InvalidAmount, InvalidName, MalformedInput

# --- types ---------------------------------------------------------------------------------

Slot = NewType("Slot", int)
Height = NewType("Height", int)
Amount = NewType("Amount", int)
"""Money in the smallest unit (4 decimals): ``12.3456 BPT`` is ``Amount(123456)``."""
AccountName = NewType("AccountName", str)
Timestamp = NewType("Timestamp", int)
"""Milliseconds since the Unix epoch."""
Hash32 = NewType("Hash32", str)
"""A sha256 digest as 64 lowercase hex characters."""
PublicKey = NewType("PublicKey", str)
"""An ed25519 public key as 64 lowercase hex characters."""
SignatureHex = NewType("SignatureHex", str)
"""An ed25519 signature as 128 lowercase hex characters."""

# --- constants -----------------------------------------------------------------------------

DEFAULT_SYMBOL = "BPT"
PRECISION = 4
UNIT = 10**PRECISION
INT64_MAX = 2**63 - 1
"""The largest signed 64-bit integer (what SQLite and PostgreSQL store)."""
MAX_AMOUNT = 2**62
"""Upper bound on any amount, so every integer fits a signed 64-bit column."""
MAX_SLOT = 2**48
"""Upper bound on a slot or a height on the wire."""
MAX_TIMESTAMP = 2**53
"""Upper bound on a timestamp (ms) on the wire."""
MAX_NONCE = 2**53
MAX_NAME_LENGTH = 12
HASH_LENGTH = 64
"""Hex characters of a :data:`Hash32` (and of a :data:`PublicKey`)."""
SIGNATURE_LENGTH = 128
"""Hex characters of a :data:`SignatureHex`."""

# The patterns of the semantic strings, also published in the services' OpenAPI. Always used
# with ``fullmatch``: ``match`` with ``$`` would take a trailing newline.
ACCOUNT_NAME_PATTERN = rf"^[a-z1-5.]{{1,{MAX_NAME_LENGTH}}}$"
"""An account name's characters (the name may not start or end with '.' either)."""
HASH_PATTERN = rf"^[0-9a-f]{{{HASH_LENGTH}}}$"
PUBLIC_KEY_PATTERN = HASH_PATTERN
SIGNATURE_PATTERN = rf"^[0-9a-f]{{{SIGNATURE_LENGTH}}}$"
SYMBOL_PATTERN = r"^[A-Z]{1,7}$"

_NAME_RE = re.compile(ACCOUNT_NAME_PATTERN)
_HEX_RE = re.compile(r"[0-9a-f]*")
_SYMBOL_RE = re.compile(SYMBOL_PATTERN)
_DECIMAL_RE = re.compile(r"([0-9]+)(?:\.([0-9]+))?")  # ASCII digits only

# --- validators ----------------------------------------------------------------------------


def is_valid_account_name(name: object) -> bool:
    """True for an EOS-style name: 1-12 characters of ``a-z1-5.``, not starting/ending in '.'."""
    return (
        isinstance(name, str)
        and _NAME_RE.fullmatch(name) is not None
        and not name.startswith(".")
        and not name.endswith(".")
    )


def validate_account_name(name: object, field: str = "name") -> AccountName:
    """Return ``name`` as an :data:`AccountName` or raise :class:`InvalidName`."""
    if not is_valid_account_name(name):
        raise InvalidName(
            f"{field}: {name!r} is not a valid account name "
            "(1-12 characters of a-z, 1-5 and '.', not starting or ending with '.')"
        )
    return AccountName(str(name))


def validate_int(value: object, field: str, *, minimum: int = 0, maximum: int = MAX_AMOUNT) -> int:
    """Return ``value`` if it is an integer (not a bool, not a float) within bounds."""
    if type(value) is not int:
        raise MalformedInput(f"{field}: expected an integer, got {type(value).__name__}")
    if value < minimum or value > maximum:
        raise MalformedInput(f"{field}: {value} is outside [{minimum}, {maximum}]")
    return value


def validate_amount(value: object, field: str = "amount", *, allow_zero: bool = False) -> Amount:
    """Return ``value`` as an :data:`Amount` (positive int in the smallest unit)."""
    if type(value) is not int:
        raise InvalidAmount(
            f"{field}: expected an integer amount in the smallest unit, got {type(value).__name__}"
        )
    if value < 0 or (value == 0 and not allow_zero) or value > MAX_AMOUNT:
        raise InvalidAmount(f"{field}: {value} is not a valid amount")
    return Amount(value)


def validate_str(value: object, field: str, *, max_length: int = 256) -> str:
    """Return ``value`` if it is a string of at most ``max_length`` characters."""
    if not isinstance(value, str):
        raise MalformedInput(f"{field}: expected a string, got {type(value).__name__}")
    if len(value) > max_length:
        raise MalformedInput(f"{field}: longer than {max_length} characters")
    return value


def is_lower_hex(value: str) -> bool:
    """True when ``value`` is lowercase hex digits and nothing else (empty included)."""
    return _HEX_RE.fullmatch(value) is not None


def validate_hex(value: object, field: str, *, length: int | None = None) -> str:
    """Return ``value`` if it is lowercase hex of the given length in characters."""
    if not isinstance(value, str) or not is_lower_hex(value) or len(value) % 2:
        raise MalformedInput(f"{field}: expected lowercase hex")
    if length is not None and len(value) != length:
        raise MalformedInput(f"{field}: expected {length} hex characters, got {len(value)}")
    return value


def validate_symbol(value: object, field: str = "symbol") -> str:
    """Return ``value`` if it is a token symbol (1-7 capital letters A-Z)."""
    if not isinstance(value, str) or _SYMBOL_RE.fullmatch(value) is None:
        raise MalformedInput(f"{field}: expected 1-7 capital letters A-Z")
    return value


def validate_hash(value: object, field: str) -> Hash32:
    """Return ``value`` as a :data:`Hash32` (64 lowercase hex characters)."""
    return Hash32(validate_hex(value, field, length=HASH_LENGTH))


def validate_public_key(value: object, field: str = "key") -> PublicKey:
    """Return ``value`` as a :data:`PublicKey` (64 lowercase hex characters)."""
    return PublicKey(validate_hex(value, field, length=HASH_LENGTH))


def validate_signature(value: object, field: str = "signature") -> SignatureHex:
    """Return ``value`` as a :data:`SignatureHex` (128 lowercase hex characters)."""
    return SignatureHex(validate_hex(value, field, length=SIGNATURE_LENGTH))


def validate_slot(value: object, field: str = "slot") -> Slot:
    """Return ``value`` as a :data:`Slot` (an integer in ``[0, MAX_SLOT]``)."""
    return Slot(validate_int(value, field, maximum=MAX_SLOT))


def validate_height(value: object, field: str = "height") -> Height:
    """Return ``value`` as a :data:`Height` (an integer in ``[0, MAX_SLOT]``)."""
    return Height(validate_int(value, field, maximum=MAX_SLOT))


def validate_timestamp(value: object, field: str = "timestamp") -> Timestamp:
    """Return ``value`` as a :data:`Timestamp` (an integer in ``[0, MAX_TIMESTAMP]``)."""
    return Timestamp(validate_int(value, field, maximum=MAX_TIMESTAMP))


VALIDATORS: dict[object, Callable[[Any, str], Any]] = {
    AccountName: validate_account_name,
    Amount: validate_amount,
    Hash32: validate_hash,
    PublicKey: validate_public_key,
    SignatureHex: validate_signature,
    Slot: validate_slot,
    Height: validate_height,
    Timestamp: validate_timestamp,
    str: validate_str,
}
"""The validator of each semantic type: what a container field of that type accepts."""


def validate_object(
    value: object, field: str, allowed: AbstractSet[str], required: AbstractSet[str]
) -> dict[str, Any]:
    """Return ``value`` if it is a JSON object with only ``allowed`` keys and all ``required``."""
    if not isinstance(value, dict):
        raise MalformedInput(f"{field}: expected an object, got {type(value).__name__}")
    unknown = set(value) - allowed
    if unknown:
        raise MalformedInput(f"{field}: unknown field(s) {', '.join(sorted(map(str, unknown)))}")
    missing = required - set(value)
    if missing:
        raise MalformedInput(f"{field}: missing field(s) {', '.join(sorted(missing))}")
    return value


# --- amounts at the edges ------------------------------------------------------------------


def format_amount(amount: int, symbol: str = DEFAULT_SYMBOL) -> str:
    """Format an amount in the smallest unit EOS style: ``123456 -> "12.3456 BPT"``."""
    sign = "-" if amount < 0 else ""
    whole, frac = divmod(abs(amount), UNIT)
    return f"{sign}{whole}.{frac:0{PRECISION}d} {symbol}"


def parse_amount(text: str, symbol: str = DEFAULT_SYMBOL) -> Amount:
    """Parse ``"12.3456 BPT"`` (or ``"12.3456"``, ``"12 BPT"``) into the smallest unit.

    At most 4 decimals are accepted; the symbol, when present, must match.
    """
    if not isinstance(text, str):
        raise InvalidAmount("amount: expected a string like '12.3456 BPT'")
    # Spaces around and between the parts only: no other whitespace, no trailing newline
    parts = [part for part in text.strip(" ").split(" ") if part]
    if len(parts) == 2:
        number, sym = parts
        if not _SYMBOL_RE.fullmatch(sym):
            raise InvalidAmount(f"amount: {sym!r} is not a token symbol")
        if sym != symbol:
            raise InvalidAmount(f"amount: symbol {sym} does not match {symbol}")
    elif len(parts) == 1:
        number = parts[0]
    else:
        raise InvalidAmount(f"amount: {text!r} is not of the form '12.3456 {symbol}'")
    decimal = _DECIMAL_RE.fullmatch(number)
    if decimal is None:
        raise InvalidAmount(f"amount: {text!r} is not a non-negative decimal number")
    whole, frac = decimal.group(1), decimal.group(2) or ""
    if len(frac) > PRECISION:
        raise InvalidAmount(f"amount: {text!r} has more than {PRECISION} decimals")
    if len(whole) > len(str(MAX_AMOUNT)):
        raise InvalidAmount(f"amount: {text!r} is too large")
    value = int(whole) * UNIT + int(frac.ljust(PRECISION, "0") or "0")
    if value > MAX_AMOUNT:
        raise InvalidAmount(f"amount: {text!r} is too large")
    return Amount(value)
