"""The DAC's governed parameters and their bounds.

Every parameter a proposal can change is listed here with its type and bounds; a value
outside them is refused with a message naming the bound. Durations are in seconds (the
governance clock is wall time passed in by the service); fractions in basis points.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from chain.core.types import is_valid_account_name
from pool_protocol.outcomes import FALLBACK_NAMES, STRATEGY_NAMES

BPS = 10_000
POLICIES = ("even", "weighted", "hybrid")
STRATEGIES = STRATEGY_NAMES
FALLBACKS = FALLBACK_NAMES
VOTE_WEIGHTS = ("member", "stake")
DAY = 86_400
# A parameter's integer as a string: ASCII digits only (``int`` takes "²" by ``isdigit`` no
# more than it takes 5,000 digits), short enough to convert.
_INT_TEXT = re.compile(r"-?[0-9]{1,19}")


class InvalidParameter(ValueError):
    """A parameter name or value the DAC does not accept."""


@dataclass(frozen=True)
class Parameters:
    """The pool's governed parameters (defaults: a cautious production pool)."""

    reward_policy: str = "even"
    treasury_fee_bps: int = 500
    min_participation_bps: int = 5_000
    reconnect_grace_slots: int = 4
    hybrid_base_bps: int = 5_000
    strategy: str = "first_delivered"
    fallback: str = "local"
    quorum_bps: int = 3_340
    threshold_bps: int = 5_000
    vote_weight: str = "member"
    voting_delay_s: int = 0
    voting_period_s: int = 2 * DAY
    timelock_s: int = DAY
    grace_period_s: int = 14 * DAY
    epoch_slots: int = 7_200
    arbitrator: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def with_value(self, name: str, raw: Any) -> Parameters:
        """A copy with ``name`` set to ``raw`` (checked against its bounds)."""
        return replace(self, **{name: check_parameter(name, raw)})

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Parameters:
        params = cls()
        for name, value in data.items():
            params = params.with_value(name, value)
        return params


def _int(low: int, high: int) -> Callable[[Any], int]:
    def check(value: Any) -> int:
        if type(value) is str and _INT_TEXT.fullmatch(value):
            value = int(value)
        if type(value) is not int or not low <= value <= high:
            raise InvalidParameter(f"must be an integer in [{low}, {high}]")
        return int(value)

    return check


def _choice(options: tuple[str, ...]) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if value not in options:
            raise InvalidParameter(f"must be one of {', '.join(options)}")
        return str(value)

    return check


def _account(value: Any) -> str:
    if value == "":
        return ""
    if not is_valid_account_name(value):
        raise InvalidParameter("must be an account name (or empty for none)")
    return str(value)


BOUNDS: dict[str, tuple[Callable[[Any], Any], str]] = {
    "reward_policy": (_choice(POLICIES), "how the members' part is split"),
    "treasury_fee_bps": (_int(0, 5_000), "share of earnings kept by the treasury"),
    "min_participation_bps": (
        _int(0, BPS),
        "valid deliveries / counted pool slots a member needs for a share",
    ),
    "reconnect_grace_slots": (
        _int(0, 1_000),
        "pool slots after the slot feed opens that do not count for participation (members reconnect)",
    ),
    "hybrid_base_bps": (_int(0, BPS), "hybrid: part split evenly (the rest by weight)"),
    "strategy": (_choice(STRATEGIES), "the emitter's selection strategy"),
    "fallback": (_choice(FALLBACKS), "what the emitter does at the cutoff with nothing valid"),
    "quorum_bps": (_int(0, BPS), "votes cast / eligible weight needed"),
    "threshold_bps": (_int(0, BPS - 1), "yes / (yes + no) must exceed this"),
    "vote_weight": (_choice(VOTE_WEIGHTS), "one member one vote, or weight by stake"),
    "voting_delay_s": (_int(0, 30 * DAY), "from proposal to voting"),
    "voting_period_s": (_int(5, 30 * DAY), "how long voting lasts"),
    "timelock_s": (_int(0, 30 * DAY), "from success to execution"),
    "grace_period_s": (_int(60, 90 * DAY), "how long a queued proposal stays executable"),
    "epoch_slots": (_int(36, 10_000_000), "chain slots per reward epoch"),
    "arbitrator": (_account, "the account that rules on disputes"),
}


def check_parameter(name: str, value: Any) -> Any:
    """``value`` converted and checked for parameter ``name``."""
    if name not in BOUNDS or name not in {f.name for f in fields(Parameters)}:
        raise InvalidParameter(f"unknown parameter {name!r}; known: {', '.join(sorted(BOUNDS))}")
    check, _ = BOUNDS[name]
    try:
        return check(value)
    except InvalidParameter as exc:
        raise InvalidParameter(f"{name}: {exc}") from None


def describe_parameters() -> dict[str, str]:
    """What each parameter means (for the API and the CLI)."""
    return {name: doc for name, (_, doc) in BOUNDS.items()}
