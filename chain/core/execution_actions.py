"""The actions of paid executions: publish a service, run it, request, answer and verify
executions, and drive processes.

Each action declares its fields; their wire form derives from them (:mod:`chain.core.wire`).
The processors live in :mod:`chain.core.executions`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from .containers import Action, register_action
from .errors import MalformedInput
from .execution_records import Rule
from .servicetypes import MAX_TASK_NAME_LENGTH, definition_to_dict, parse_definition
from .types import Amount, Hash32, validate_hash, validate_object, validate_str
from .wire import (
    amount_or_zero,
    json_object,
    optional_bool,
    optional_hash,
    optional_name,
    parse_fields,
    text,
    wire,
    wire_spec,
)

# --- constants -----------------------------------------------------------------------------

MAX_RULES = 8
MAX_ERROR_LENGTH = 512

# --- field parsers -------------------------------------------------------------------------


def _parse_definition(value: Any, where: str) -> dict[str, Any]:
    return definition_to_dict(parse_definition(value))


def _parse_rule(rule: Any, where: str) -> Rule:
    validate_object(rule, where, {"on", "then", "inputs"}, {"on", "then", "inputs"})
    for part in ("on", "then"):
        validate_object(rule[part], f"{where}.{part}", {"service", "task"}, {"service", "task"})
    mapping = rule["inputs"]
    if not isinstance(mapping, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in mapping.items()
    ):
        raise MalformedInput(f"{where}.inputs: expected an object of input -> output field")
    return (
        validate_hash(rule["on"]["service"], f"{where}.on.service"),
        validate_str(rule["on"]["task"], f"{where}.on.task", max_length=MAX_TASK_NAME_LENGTH),
        validate_hash(rule["then"]["service"], f"{where}.then.service"),
        validate_str(rule["then"]["task"], f"{where}.then.task", max_length=MAX_TASK_NAME_LENGTH),
        tuple(sorted(mapping.items())),
    )


def _parse_rules(value: Any, where: str) -> tuple[Rule, ...]:
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_RULES:
        raise MalformedInput(f"{where}: expected a list of 1 to {MAX_RULES} rules")
    return tuple(_parse_rule(rule, f"{where}[{i}]") for i, rule in enumerate(value))


def _rules_to_wire(rules: tuple[Rule, ...]) -> list[dict[str, Any]]:
    return [
        {"on": {"service": a, "task": b}, "then": {"service": c, "task": d}, "inputs": dict(m)}
        for a, b, c, d, m in rules
    ]


# --- actions -------------------------------------------------------------------------------


@register_action
@dataclass(frozen=True)
class PublishService(Action):
    """Publish a service definition (immutable; its id is the hash of the definition)."""

    TYPE: ClassVar[str] = "publish_service"
    definition: dict[str, Any] = field(metadata=wire(_parse_definition))


@register_action
@dataclass(frozen=True)
class RegisterRunner(Action):
    """Stake on a service as a runner at ``price`` per call."""

    TYPE: ClassVar[str] = "register_runner"
    service: Hash32
    stake: Amount
    price: Amount = field(metadata=wire(amount_or_zero))

    def spend(self, params: Any) -> int:
        return self.stake


@register_action
@dataclass(frozen=True)
class UnregisterRunner(Action):
    """Stop running a service; the stake goes through unbonding."""

    TYPE: ClassVar[str] = "unregister_runner"
    service: Hash32


@register_action
@dataclass(frozen=True)
class RequestExecution(Action):
    """Pay for one execution of ``task``; the fee is escrowed until it settles."""

    TYPE: ClassVar[str] = "request_execution"
    service: Hash32
    task: str = field(metadata=wire(text(MAX_TASK_NAME_LENGTH)))
    inputs: dict[str, Any] = field(metadata=wire(json_object))
    max_fee: Amount = field(metadata=wire(amount_or_zero))
    runner: str = field(default="", metadata=wire(optional_name, omit=True))
    process: str = field(default="", metadata=wire(optional_hash, omit=True))

    def spend(self, params: Any) -> int:
        return 0 if self.process else self.max_fee


def _has_error(result: Any) -> bool:
    return result.error is not None


@register_action
@dataclass(frozen=True)
class SubmitResult(Action):
    """The assigned runner's result: typed ``outputs``, or an ``error`` message."""

    TYPE: ClassVar[str] = "submit_result"
    execution: Hash32
    outputs: dict[str, Any] | None = field(default=None, metadata=wire(json_object, omit=_has_error))
    error: str | None = field(default=None, metadata=wire(text(MAX_ERROR_LENGTH), omit=True))

    @classmethod
    def from_fields(cls, data: dict[str, Any]) -> SubmitResult:
        where = f"action({cls.TYPE})"
        spec = wire_spec(cls)
        validate_object(data, where, spec.allowed, spec.required)
        # Verify exactly one of outputs and error is given
        if ("outputs" in data) == ("error" in data):
            raise MalformedInput("action: exactly one of outputs and error")
        # Verify an error says something: an empty one would read as no error at all
        if data.get("error") == "":
            raise MalformedInput("action.error: an empty error message (give outputs, or say what failed)")
        return parse_fields(cls, data, where, "action.")


@register_action
@dataclass(frozen=True)
class SubmitVerdict(Action):
    """A verifier's verdict: the result hash it recomputed (``reexecute`` tasks) or whether the
    effect is there (``external`` tasks)."""

    TYPE: ClassVar[str] = "submit_verdict"
    execution: Hash32
    result_hash: str = field(default="", metadata=wire(optional_hash, omit=True))
    accept: bool | None = field(default=None, metadata=wire(optional_bool, omit=True))


@register_action
@dataclass(frozen=True)
class CreateProcess(Action):
    """A process with ``deposit`` as its balance and rules chaining tasks."""

    TYPE: ClassVar[str] = "create_process"
    rules: tuple[Rule, ...] = field(metadata=wire(_parse_rules, encode=_rules_to_wire))
    deposit: Amount = field(metadata=wire(amount_or_zero))
    max_fee: Amount = field(metadata=wire(amount_or_zero))

    def spend(self, params: Any) -> int:
        return self.deposit


@register_action
@dataclass(frozen=True)
class FundProcess(Action):
    """Add ``amount`` to a process's balance (anyone can; an out-of-funds process resumes)."""

    TYPE: ClassVar[str] = "fund_process"
    process: Hash32
    amount: Amount


@register_action
@dataclass(frozen=True)
class CloseProcess(Action):
    """Close the sender's process and take its balance back."""

    TYPE: ClassVar[str] = "close_process"
    process: Hash32
