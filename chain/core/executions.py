"""Paid executions (MESG-style): services, runners, executions, verification, processes.

A developer publishes a **service**: tasks with typed inputs and outputs, a price per call (the
floor every runner's price must meet) and a verification mode per task. **Runners** stake on a
service at their own price. A user **requests an execution**: the fee (the runner's price) is
escrowed, the runner is the one named or one the chain picks, stake-weighted among the runners
within the user's maximum fee; for verified tasks, ``verifiers_per_execution`` verifiers are
drawn the same way from the service's other runners. The runner **submits the result**; the
verifiers **submit verdicts**: a result hash they recomputed (``reexecute``) or accept/reject
(``external``). A majority settles it:

* accepted: the fee goes ``runner_share_bps`` to the runner, ``developer_share_bps`` to the
  service's developer and the rest (the verifiers' pool, which also takes both rounding
  remainders) in equal parts to the verifiers who voted with the majority; what that equal
  split leaves goes to the runner. A verifier pool nobody earned (no verdict before the
  timeout) goes back to whoever paid. ``trusted`` tasks have no verifiers: the runner also
  gets the verifiers' pool. An accepted *error* (the runner reported the task failed, and the
  verifiers agree) pays the verifiers' pool to the majority and refunds the rest;
* rejected, or no result within ``execution_timeout_slots``: ``runner_slash_bps`` of the
  runner's stake is burned and the payer refunded in full;
* verification timeout (``verification_timeout_slots``) without a majority: the verdicts
  received decide (more accepts than rejects accepts; more rejects rejects); none or a tie
  accepts — a result nobody disputed stands.

A **process** holds a balance and rules "when task A of service S completes, request task B of
service T with these outputs mapped to its inputs". Executions requested for a process are paid
from its balance; when one completes, the chain's *process worker* (the MESG role that creates
executions from processes) requests the follow-ups. A process that cannot pay stops cleanly.

Determinism: runners and verifiers are drawn with ``sha256(parent block id || execution id)``
as the seed — the block's own id cannot be used, since the block commits to the state these
choices produce. Every iteration over a table is sorted.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

import orjson

from .codec import canonical_bytes_trusted, compute_id
from .containers import Action, Transaction, _fields, register_action
from .errors import (
    ActionRejected,
    InsufficientBalance,
    InsufficientStake,
    MalformedInput,
    MalformedTransaction,
)
from .helpers import SUPPLY_HOOKS, decrease_balance, increase_balance, record_burned
from .params import BPS
from .registry import BlockContext, register_end_block_hook, register_processor
from .staking import add_unbonding_entry
from .state import State, Table
from .types import (
    Amount,
    Hash32,
    validate_account_name,
    validate_amount,
    validate_hash,
    validate_int,
    validate_object,
    validate_str,
)

# --- constants -----------------------------------------------------------------------------

MODES = ("reexecute", "external", "trusted")
SCALAR_TYPES = ("int", "str", "bool", "bytes")
VALUE_TYPES = SCALAR_TYPES + tuple(f"list[{t}]" for t in SCALAR_TYPES)
REQUESTED, IN_PROGRESS, COMPLETED, FAILED, EXPIRED = (
    "requested",
    "in_progress",
    "completed",
    "failed",
    "expired",
)
EXECUTION_STATES = (REQUESTED, IN_PROGRESS, COMPLETED, FAILED, EXPIRED)
OPEN_STATES = (REQUESTED, IN_PROGRESS)
MAX_TASKS = 32
MAX_FIELDS = 16
MAX_RULES = 8
MAX_ERROR_LENGTH = 512
MAX_INT = 2**63 - 1
# Always used with ``fullmatch``: ``match`` with ``$`` would take a trailing newline.
_NAME_RE = re.compile(r"[a-z][a-z0-9_.-]{0,63}")
_FIELD_RE = re.compile(r"[a-z_][a-z0-9_]{0,31}")
_HEX_RE = re.compile(r"(?:[0-9a-f]{2})*")


class ExecutionRejected(ActionRejected):
    """An execution action that breaks a rule of this module."""

    code = "execution_rejected"


class UnknownService(ExecutionRejected):
    code = "unknown_service"


class UnknownExecution(ExecutionRejected):
    code = "unknown_execution"


class InvalidIO(ExecutionRejected):
    code = "invalid_io"


class NoRunner(ExecutionRejected):
    code = "no_runner"


class NotAssigned(ExecutionRejected):
    code = "not_assigned"


class WrongExecutionState(ExecutionRejected):
    code = "wrong_execution_state"


# --- records -------------------------------------------------------------------------------


class Service(NamedTuple):
    """A published service: immutable. ``definition`` is its canonical JSON."""

    developer: str
    name: str
    price: int
    definition: str
    published_slot: int


class Runner(NamedTuple):
    """A runner's registration for one service (key ``service_id/account``)."""

    stake: int
    price: int
    registered_slot: int
    completed: int
    slashed: int


class ServiceRunners(NamedTuple):
    """The accounts registered as runners of a service, sorted."""

    runners: tuple[str, ...]


class Execution(NamedTuple):
    """One paid execution. ``fee`` is escrowed while the state is requested or in progress."""

    service: str
    task: str
    inputs: str
    requester: str
    process: str
    parent: str
    runner: str
    fee: int
    status: str
    created_slot: int
    deadline_slot: int
    outputs: str
    error: str
    result_hash: str
    result_slot: int
    verifiers: tuple[str, ...]
    verdicts: tuple[tuple[str, str], ...]
    settled_slot: int
    outcome: str


class Process(NamedTuple):
    """A process: its balance pays the executions it requests.

    ``rules`` holds ``(on_service, on_task, then_service, then_task, ((input, output), ...))``.
    """

    owner: str
    balance: int
    max_fee: int
    rules: tuple[tuple[str, str, str, str, tuple[tuple[str, str], ...]], ...]
    status: str
    executions: int
    reason: str


class OpenExecution(NamedTuple):
    """Index of the executions not settled yet, with the slot they time out at."""

    deadline_slot: int


def services(state: State) -> Table[Service]:
    return state.table("services")


def runners(state: State) -> Table[Runner]:
    return state.table("runners")


def service_runners(state: State) -> Table[ServiceRunners]:
    return state.table("service_runners")


def executions(state: State) -> Table[Execution]:
    return state.table("executions")


def processes(state: State) -> Table[Process]:
    return state.table("processes")


def open_executions(state: State) -> Table[OpenExecution]:
    return state.table("open_executions")


def runner_key(service_id: str, account: str) -> str:
    return f"{service_id}/{account}"


# --- definitions and typed values ----------------------------------------------------------


@dataclass(frozen=True)
class TaskSpec:
    name: str
    inputs: tuple[tuple[str, str], ...]
    outputs: tuple[tuple[str, str], ...]
    verification: str


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    price: int
    tasks: dict[str, TaskSpec]


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
    tasks = {}
    for task_name, spec in sorted(tasks_data.items()):
        where = f"definition.tasks.{task_name}"
        if not isinstance(task_name, str) or not _NAME_RE.fullmatch(task_name):
            raise MalformedInput(f"{where}: not a task name")
        validate_object(
            spec, where, {"inputs", "outputs", "verification"}, {"inputs", "outputs", "verification"}
        )
        if spec["verification"] not in MODES:
            raise MalformedInput(f"{where}.verification: one of {', '.join(MODES)}")
        tasks[task_name] = TaskSpec(
            task_name,
            _check_fields(spec["inputs"], f"{where}.inputs"),
            _check_fields(spec["outputs"], f"{where}.outputs"),
            str(spec["verification"]),
        )
    return ServiceSpec(name, price, tasks)


def definition_to_dict(spec: ServiceSpec) -> dict[str, Any]:
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


def _check_value(value: Any, kind: str, where: str) -> None:
    if kind.startswith("list["):
        if not isinstance(value, list):
            raise InvalidIO(f"{where}: expected a list ({kind})")
        inner = kind[5:-1]
        for i, item in enumerate(value):
            _check_value(item, inner, f"{where}[{i}]")
        return
    ok = {
        "int": lambda v: type(v) is int and -MAX_INT - 1 <= v <= MAX_INT,
        "str": lambda v: isinstance(v, str),
        "bool": lambda v: type(v) is bool,
        "bytes": lambda v: isinstance(v, str) and _HEX_RE.fullmatch(v) is not None,
    }[kind](value)
    if not ok:
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


_SPEC_CACHE: dict[str, ServiceSpec] = {}


def get_spec(state: State, service_id: str) -> tuple[Service, ServiceSpec]:
    """The service ``service_id`` and its parsed definition, or :class:`UnknownService`."""
    service = services(state).rows.get(service_id)
    if service is None:
        raise UnknownService(f"service {service_id[:16]}… is not published")
    spec = _SPEC_CACHE.get(service_id)
    if spec is None:
        spec = parse_definition(orjson.loads(service.definition))
        _SPEC_CACHE[service_id] = spec
    return service, spec


def get_task(spec: ServiceSpec, task: str) -> TaskSpec:
    found = spec.tasks.get(task)
    if found is None:
        raise UnknownService(
            f"service {spec.name} has no task {task!r}; it has {', '.join(sorted(spec.tasks))}"
        )
    return found


# --- actions -------------------------------------------------------------------------------


def _optional_hash(value: Any, where: str) -> str:
    return "" if value in (None, "") else validate_hash(value, where)


@register_action
@dataclass(frozen=True)
class PublishService(Action):
    """Publish a service definition (immutable; its id is the hash of the definition)."""

    TYPE: ClassVar[str] = "publish_service"
    definition: dict[str, Any]

    def fields_dict(self) -> dict[str, Any]:
        return {"definition": self.definition}

    @classmethod
    def from_fields(cls, data: dict[str, Any]) -> PublishService:
        _fields(data, cls.TYPE, {"definition"})
        return cls(definition=definition_to_dict(parse_definition(data["definition"])))


@register_action
@dataclass(frozen=True)
class RegisterRunner(Action):
    """Stake on a service as a runner at ``price`` per call."""

    TYPE: ClassVar[str] = "register_runner"
    service: Hash32
    stake: Amount
    price: Amount

    def fields_dict(self) -> dict[str, Any]:
        return {"service": self.service, "stake": self.stake, "price": self.price}

    def spend(self, params: Any) -> int:
        return self.stake

    @classmethod
    def from_fields(cls, data: dict[str, Any]) -> RegisterRunner:
        _fields(data, cls.TYPE, {"service", "stake", "price"})
        return cls(
            service=validate_hash(data["service"], "action.service"),
            stake=validate_amount(data["stake"], "action.stake"),
            price=validate_amount(data["price"], "action.price", allow_zero=True),
        )


@register_action
@dataclass(frozen=True)
class UnregisterRunner(Action):
    """Stop running a service; the stake goes through unbonding."""

    TYPE: ClassVar[str] = "unregister_runner"
    service: Hash32

    def fields_dict(self) -> dict[str, Any]:
        return {"service": self.service}

    @classmethod
    def from_fields(cls, data: dict[str, Any]) -> UnregisterRunner:
        _fields(data, cls.TYPE, {"service"})
        return cls(service=validate_hash(data["service"], "action.service"))


@register_action
@dataclass(frozen=True)
class RequestExecution(Action):
    """Pay for one execution of ``task``; the fee is escrowed until it settles."""

    TYPE: ClassVar[str] = "request_execution"
    service: Hash32
    task: str
    inputs: dict[str, Any]
    max_fee: Amount
    runner: str = ""
    process: str = ""

    def fields_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "service": self.service,
            "task": self.task,
            "inputs": self.inputs,
            "max_fee": self.max_fee,
        }
        if self.runner:
            data["runner"] = self.runner
        if self.process:
            data["process"] = self.process
        return data

    def spend(self, params: Any) -> int:
        return 0 if self.process else self.max_fee

    @classmethod
    def from_fields(cls, data: dict[str, Any]) -> RequestExecution:
        _fields(
            data,
            cls.TYPE,
            {"service", "task", "inputs", "max_fee", "runner", "process"},
            {"service", "task", "inputs", "max_fee"},
        )
        if not isinstance(data["inputs"], dict):
            raise MalformedInput("action.inputs: expected an object")
        runner = data.get("runner", "")
        return cls(
            service=validate_hash(data["service"], "action.service"),
            task=validate_str(data["task"], "action.task", max_length=64),
            inputs=data["inputs"],
            max_fee=validate_amount(data["max_fee"], "action.max_fee", allow_zero=True),
            runner=validate_account_name(runner, "action.runner") if runner else "",
            process=_optional_hash(data.get("process"), "action.process"),
        )


@register_action
@dataclass(frozen=True)
class SubmitResult(Action):
    """The assigned runner's result: typed ``outputs``, or an ``error`` message."""

    TYPE: ClassVar[str] = "submit_result"
    execution: Hash32
    outputs: dict[str, Any] | None = None
    error: str | None = None

    def fields_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"execution": self.execution}
        if self.error is not None:
            data["error"] = self.error
        else:
            data["outputs"] = self.outputs
        return data

    @classmethod
    def from_fields(cls, data: dict[str, Any]) -> SubmitResult:
        _fields(data, cls.TYPE, {"execution", "outputs", "error"}, {"execution"})
        has_outputs, has_error = "outputs" in data, "error" in data
        if has_outputs == has_error:
            raise MalformedInput("action: exactly one of outputs and error")
        if has_outputs and not isinstance(data["outputs"], dict):
            raise MalformedInput("action.outputs: expected an object")
        return cls(
            execution=validate_hash(data["execution"], "action.execution"),
            outputs=data["outputs"] if has_outputs else None,
            error=validate_str(data["error"], "action.error", max_length=MAX_ERROR_LENGTH)
            if has_error
            else None,
        )


@register_action
@dataclass(frozen=True)
class SubmitVerdict(Action):
    """A verifier's verdict: the result hash it recomputed (``reexecute`` tasks) or whether the
    effect is there (``external`` tasks)."""

    TYPE: ClassVar[str] = "submit_verdict"
    execution: Hash32
    result_hash: str = ""
    accept: bool | None = None

    def fields_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"execution": self.execution}
        if self.result_hash:
            data["result_hash"] = self.result_hash
        if self.accept is not None:
            data["accept"] = self.accept
        return data

    @classmethod
    def from_fields(cls, data: dict[str, Any]) -> SubmitVerdict:
        _fields(data, cls.TYPE, {"execution", "result_hash", "accept"}, {"execution"})
        accept = data.get("accept")
        if accept is not None and type(accept) is not bool:
            raise MalformedInput("action.accept: expected true or false")
        return cls(
            execution=validate_hash(data["execution"], "action.execution"),
            result_hash=_optional_hash(data.get("result_hash"), "action.result_hash"),
            accept=accept,
        )


def _parse_rules(value: Any) -> tuple[tuple[str, str, str, str, tuple[tuple[str, str], ...]], ...]:
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_RULES:
        raise MalformedInput(f"action.rules: expected a list of 1 to {MAX_RULES} rules")
    rules = []
    for i, rule in enumerate(value):
        where = f"action.rules[{i}]"
        validate_object(rule, where, {"on", "then", "inputs"}, {"on", "then", "inputs"})
        for part in ("on", "then"):
            validate_object(rule[part], f"{where}.{part}", {"service", "task"}, {"service", "task"})
        mapping = rule["inputs"]
        if not isinstance(mapping, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in mapping.items()
        ):
            raise MalformedInput(f"{where}.inputs: expected an object of input -> output field")
        rules.append(
            (
                validate_hash(rule["on"]["service"], f"{where}.on.service"),
                validate_str(rule["on"]["task"], f"{where}.on.task", max_length=64),
                validate_hash(rule["then"]["service"], f"{where}.then.service"),
                validate_str(rule["then"]["task"], f"{where}.then.task", max_length=64),
                tuple(sorted(mapping.items())),
            )
        )
    return tuple(rules)


@register_action
@dataclass(frozen=True)
class CreateProcess(Action):
    """A process with ``deposit`` as its balance and rules chaining tasks."""

    TYPE: ClassVar[str] = "create_process"
    rules: tuple[tuple[str, str, str, str, tuple[tuple[str, str], ...]], ...]
    deposit: Amount
    max_fee: Amount

    def fields_dict(self) -> dict[str, Any]:
        return {
            "rules": [
                {"on": {"service": a, "task": b}, "then": {"service": c, "task": d}, "inputs": dict(m)}
                for a, b, c, d, m in self.rules
            ],
            "deposit": self.deposit,
            "max_fee": self.max_fee,
        }

    def spend(self, params: Any) -> int:
        return self.deposit

    @classmethod
    def from_fields(cls, data: dict[str, Any]) -> CreateProcess:
        _fields(data, cls.TYPE, {"rules", "deposit", "max_fee"})
        return cls(
            rules=_parse_rules(data["rules"]),
            deposit=validate_amount(data["deposit"], "action.deposit", allow_zero=True),
            max_fee=validate_amount(data["max_fee"], "action.max_fee", allow_zero=True),
        )


@register_action
@dataclass(frozen=True)
class FundProcess(Action):
    """Add ``amount`` to a process's balance (anyone can; an out-of-funds process resumes)."""

    TYPE: ClassVar[str] = "fund_process"
    process: Hash32
    amount: Amount

    def fields_dict(self) -> dict[str, Any]:
        return {"process": self.process, "amount": self.amount}

    def spend(self, params: Any) -> int:
        return self.amount

    @classmethod
    def from_fields(cls, data: dict[str, Any]) -> FundProcess:
        _fields(data, cls.TYPE, {"process", "amount"})
        return cls(
            process=validate_hash(data["process"], "action.process"),
            amount=validate_amount(data["amount"], "action.amount"),
        )


@register_action
@dataclass(frozen=True)
class CloseProcess(Action):
    """Close the sender's process and take its balance back."""

    TYPE: ClassVar[str] = "close_process"
    process: Hash32

    def fields_dict(self) -> dict[str, Any]:
        return {"process": self.process}

    @classmethod
    def from_fields(cls, data: dict[str, Any]) -> CloseProcess:
        _fields(data, cls.TYPE, {"process"})
        return cls(process=validate_hash(data["process"], "action.process"))


# --- selection -----------------------------------------------------------------------------


def compute_seed(prev_id: str, execution_id: str) -> bytes:
    return hashlib.sha256(bytes.fromhex(prev_id) + bytes.fromhex(execution_id)).digest()


def draw_weighted(candidates: list[tuple[str, int]], seed: bytes) -> str:
    """One name from ``(name, weight)`` pairs (sorted by name), weight-proportional."""
    total = sum(w for _, w in candidates)
    point = int.from_bytes(seed, "big") % total
    for name, weight in candidates:
        if point < weight:
            return name
        point -= weight
    raise AssertionError("unreachable: the point is below the total weight")


def draw_verifiers(candidates: list[tuple[str, int]], count: int, seed: bytes) -> tuple[str, ...]:
    """Up to ``count`` distinct names, each drawn weight-proportionally without replacement."""
    pool = list(candidates)
    chosen = []
    for i in range(min(count, len(pool))):
        name = draw_weighted(pool, hashlib.sha256(seed + b"verifier" + i.to_bytes(4, "big")).digest())
        chosen.append(name)
        pool = [c for c in pool if c[0] != name]
    return tuple(sorted(chosen))


def get_service_runners(state: State, service_id: str) -> list[tuple[str, Runner]]:
    """The runners of a service, sorted by account."""
    record = service_runners(state).rows.get(service_id)
    names = record.runners if record else ()
    table = runners(state).rows
    return [(name, table[runner_key(service_id, name)]) for name in names]


def assign(
    state: State, service_id: str, task: TaskSpec, max_fee: int, named: str, seed: bytes
) -> tuple[str, int, tuple[str, ...]]:
    """``(runner, fee, verifiers)`` for a new execution, or :class:`NoRunner`."""
    registered = get_service_runners(state, service_id)
    if named:
        found = dict(registered).get(named)
        # Verify the named runner serves the service within the fee
        if found is None:
            raise NoRunner(f"{named} is not a runner of this service")
        if found.price > max_fee:
            raise NoRunner(f"{named} asks {found.price}, above the max fee {max_fee}")
        runner = named
    else:
        affordable = [(name, r.stake) for name, r in registered if r.price <= max_fee and r.stake > 0]
        # Verify some runner serves the service within the fee
        if not affordable:
            raise NoRunner(f"no runner of this service asks at most {max_fee}")
        runner = draw_weighted(affordable, seed)
    fee = dict(registered)[runner].price
    verifiers: tuple[str, ...] = ()
    if task.verification != "trusted":
        others = [(name, r.stake) for name, r in registered if name != runner and r.stake > 0]
        # Verify someone can verify the result
        if not others:
            raise NoRunner(f"task {task.name} is verified ({task.verification}) and needs a second runner")
        verifiers = draw_verifiers(others, state.params.verifiers_per_execution, seed)
    return runner, fee, verifiers


# --- processors ----------------------------------------------------------------------------


@register_processor(PublishService)
def process_publish_service(state: State, tx: Transaction, action: PublishService, ctx: BlockContext) -> None:
    """Publish a service; the sender is its developer."""
    try:
        spec = parse_definition(action.definition)
    except MalformedInput as exc:
        raise MalformedTransaction(exc.message) from None
    definition = definition_to_dict(spec)
    service_id = compute_id(definition)
    # Verify the service is new (published services are immutable)
    if service_id in services(state):
        raise ExecutionRejected(f"service {service_id[:16]}… is already published; services are immutable")
    services(state).put(
        service_id,
        Service(tx.sender, spec.name, spec.price, canonical_bytes_trusted(definition).decode(), ctx.slot),
    )


@register_processor(RegisterRunner)
def process_register_runner(state: State, tx: Transaction, action: RegisterRunner, ctx: BlockContext) -> None:
    """Stake on a service as a runner."""
    service, _ = get_spec(state, action.service)
    key = runner_key(action.service, tx.sender)
    # Verify the sender is not a runner of this service already
    if key in runners(state):
        raise ExecutionRejected(f"{tx.sender} already runs this service; unregister first to change it")
    # Verify the stake is at least the minimum
    if action.stake < state.params.min_runner_stake:
        raise InsufficientStake(
            f"a runner stakes at least {state.params.min_runner_stake}, not {action.stake}"
        )
    # Verify the price meets the service's price per call
    if action.price < service.price:
        raise ExecutionRejected(
            f"the price {action.price} is below the service's price per call {service.price}"
        )
    # Verify the sender can pay the stake
    decrease_balance(state, tx.sender, action.stake, what="the runner stake")
    runners(state).put(key, Runner(action.stake, action.price, ctx.slot, 0, 0))
    record = service_runners(state).rows.get(action.service)
    names = tuple(sorted({*(record.runners if record else ()), tx.sender}))
    service_runners(state).put(action.service, ServiceRunners(names))


@register_processor(UnregisterRunner)
def process_unregister_runner(
    state: State, tx: Transaction, action: UnregisterRunner, ctx: BlockContext
) -> None:
    """Leave a service; the stake unbonds like a producer stake."""
    key = runner_key(action.service, tx.sender)
    runner = runners(state).rows.get(key)
    # Verify the sender runs the service
    if runner is None:
        raise ExecutionRejected(f"{tx.sender} is not a runner of service {action.service[:16]}…")
    # Verify no execution assigned to it is still open
    table = executions(state).rows
    for execution_id in sorted(open_executions(state).rows):
        execution = table[execution_id]
        if execution.runner == tx.sender and execution.service == action.service:
            raise WrongExecutionState(f"execution {execution_id[:16]}… assigned to {tx.sender} is still open")
    runners(state).delete(key)
    record = service_runners(state).rows[action.service]
    remaining = tuple(n for n in record.runners if n != tx.sender)
    if remaining:
        service_runners(state).put(action.service, ServiceRunners(remaining))
    else:
        service_runners(state).delete(action.service)
    if runner.stake:
        add_unbonding_entry(state, tx.sender, f"runner:{action.service[:16]}", runner.stake, ctx.slot)


def _open_execution(
    state: State,
    ctx: BlockContext,
    execution_id: str,
    *,
    service_id: str,
    task: TaskSpec,
    inputs: str,
    requester: str,
    process: str,
    parent: str,
    runner: str,
    fee: int,
    verifiers: tuple[str, ...],
) -> None:
    deadline = ctx.slot + state.params.execution_timeout_slots
    executions(state).put(
        execution_id,
        Execution(
            service=service_id,
            task=task.name,
            inputs=inputs,
            requester=requester,
            process=process,
            parent=parent,
            runner=runner,
            fee=fee,
            status=REQUESTED,
            created_slot=ctx.slot,
            deadline_slot=deadline,
            outputs="",
            error="",
            result_hash="",
            result_slot=0,
            verifiers=verifiers,
            verdicts=(),
            settled_slot=0,
            outcome="",
        ),
    )
    open_executions(state).put(execution_id, OpenExecution(deadline))


@register_processor(RequestExecution)
def process_request_execution(
    state: State, tx: Transaction, action: RequestExecution, ctx: BlockContext
) -> None:
    """Escrow the fee and assign a runner (and verifiers) to a new execution."""
    _, spec = get_spec(state, action.service)
    # Verify the task exists and the inputs have its types
    task = get_task(spec, action.task)
    inputs = check_values(action.inputs, task.inputs, "inputs", state.params.max_execution_io_bytes)
    runner, fee, verifiers = assign(
        state, action.service, task, action.max_fee, action.runner, compute_seed(ctx.header.prev_id, tx.id)
    )
    if action.process:
        process = processes(state).rows.get(action.process)
        # Verify the process exists, is the sender's and is open
        if process is None:
            raise ExecutionRejected(f"process {action.process[:16]}… does not exist")
        if process.owner != tx.sender:
            raise ExecutionRejected(f"process {action.process[:16]}… belongs to {process.owner}")
        if process.status == "closed":
            raise ExecutionRejected(f"process {action.process[:16]}… is closed")
        # Verify the process can pay
        if process.balance < fee:
            raise InsufficientBalance(
                f"process {action.process[:16]}… holds {process.balance}, the fee is {fee}"
            )
        processes(state).put(
            action.process,
            process._replace(balance=process.balance - fee, executions=process.executions + 1),
        )
    else:
        # Verify the sender can pay the fee
        decrease_balance(state, tx.sender, fee, what="the execution fee")
    _open_execution(
        state,
        ctx,
        tx.id,
        service_id=action.service,
        task=task,
        inputs=inputs,
        requester=tx.sender,
        process=action.process,
        parent="",
        runner=runner,
        fee=fee,
        verifiers=verifiers,
    )


def get_execution(state: State, execution_id: str) -> Execution:
    execution = executions(state).rows.get(execution_id)
    if execution is None:
        raise UnknownExecution(f"execution {execution_id[:16]}… does not exist")
    return execution


@register_processor(SubmitResult)
def process_submit_result(state: State, tx: Transaction, action: SubmitResult, ctx: BlockContext) -> None:
    """Record the runner's result; trusted tasks settle at once, others go to the verifiers."""
    execution = get_execution(state, action.execution)
    # Verify the sender is the assigned runner
    if tx.sender != execution.runner:
        raise NotAssigned(
            f"execution {action.execution[:16]}… is assigned to {execution.runner}, not {tx.sender}"
        )
    # Verify the execution awaits its result
    if execution.status != REQUESTED:
        raise WrongExecutionState(f"execution {action.execution[:16]}… is {execution.status}, not requested")
    # Verify the deadline has not passed
    if ctx.slot > execution.deadline_slot:
        raise WrongExecutionState(f"the result was due by slot {execution.deadline_slot}")
    _, spec = get_spec(state, execution.service)
    task = get_task(spec, execution.task)
    outputs = ""
    if action.error is None:
        # Verify the outputs have the task's types
        outputs = check_values(action.outputs, task.outputs, "outputs", state.params.max_execution_io_bytes)
    result_hash = compute_result_hash(action.outputs, action.error)
    execution = execution._replace(
        status=IN_PROGRESS,
        outputs=outputs,
        error=action.error or "",
        result_hash=result_hash,
        result_slot=ctx.slot,
    )
    if task.verification == "trusted":
        executions(state).put(action.execution, execution)
        settle(state, ctx, action.execution, accepted=True, reason="trusted task: paid on result")
        return
    deadline = ctx.slot + state.params.verification_timeout_slots
    executions(state).put(action.execution, execution._replace(deadline_slot=deadline))
    open_executions(state).put(action.execution, OpenExecution(deadline))


@register_processor(SubmitVerdict)
def process_submit_verdict(state: State, tx: Transaction, action: SubmitVerdict, ctx: BlockContext) -> None:
    """Count a verifier's verdict; a majority settles the execution."""
    execution = get_execution(state, action.execution)
    # Verify the sender is one of the execution's verifiers
    if tx.sender not in execution.verifiers:
        raise NotAssigned(f"{tx.sender} is not a verifier of execution {action.execution[:16]}…")
    # A verdict that lands after a majority settled the execution (possibly in this very block,
    # which no verifier can foresee) is a no-op, not an error: failing it would drop the
    # transaction and leave a gap in the verifier's nonces.
    if execution.status in (COMPLETED, FAILED) and execution.result_slot:
        return
    # Verify the execution is being verified
    if execution.status != IN_PROGRESS:
        raise WrongExecutionState(
            f"execution {action.execution[:16]}… is {execution.status}, not in_progress"
        )
    # Verify the verifier has not voted yet
    if any(voter == tx.sender for voter, _ in execution.verdicts):
        raise WrongExecutionState(f"{tx.sender} already gave its verdict")
    _, spec = get_spec(state, execution.service)
    mode = get_task(spec, execution.task).verification
    if mode == "reexecute":
        # Verify a re-executing verifier sends the result hash it computed
        if not action.result_hash or action.accept is not None:
            raise MalformedTransaction("a reexecute task's verdict is the recomputed result_hash (no accept)")
        verdict = "accept" if action.result_hash == execution.result_hash else "reject"
    else:
        # Verify an external task's verdict is accept or reject
        if action.accept is None or action.result_hash:
            raise MalformedTransaction("an external task's verdict is accept: true or false (no result_hash)")
        verdict = "accept" if action.accept else "reject"
    verdicts = tuple(sorted((*execution.verdicts, (tx.sender, verdict))))
    executions(state).put(action.execution, execution._replace(verdicts=verdicts))
    majority = len(execution.verifiers) // 2 + 1
    accepts = sum(1 for _, v in verdicts if v == "accept")
    rejects = len(verdicts) - accepts
    if accepts >= majority:
        settle(
            state,
            ctx,
            action.execution,
            accepted=True,
            reason=f"accepted by {accepts} of {len(execution.verifiers)} verifiers",
        )
    elif rejects >= majority:
        settle(
            state,
            ctx,
            action.execution,
            accepted=False,
            reason=f"rejected by {rejects} of {len(execution.verifiers)} verifiers",
        )


@register_processor(CreateProcess)
def process_create_process(state: State, tx: Transaction, action: CreateProcess, ctx: BlockContext) -> None:
    """Create a process owned by the sender, funded with ``deposit``."""
    for i, (on_service, on_task, then_service, then_task, mapping) in enumerate(action.rules):
        # Verify both ends of the rule exist
        _, on_spec = get_spec(state, on_service)
        source = get_task(on_spec, on_task)
        _, then_spec = get_spec(state, then_service)
        target = get_task(then_spec, then_task)
        # Verify the mapping fills every input of the next task from an output of the same type
        outputs, inputs = dict(source.outputs), dict(target.inputs)
        if set(dict(mapping)) != set(inputs):
            raise InvalidIO(f"rules[{i}].inputs: map exactly the inputs {', '.join(sorted(inputs))}")
        for to_field, from_field in mapping:
            if from_field not in outputs:
                raise InvalidIO(f"rules[{i}].inputs.{to_field}: {on_task} has no output {from_field!r}")
            if outputs[from_field] != inputs[to_field]:
                raise InvalidIO(
                    f"rules[{i}].inputs.{to_field}: {inputs[to_field]} cannot take "
                    f"{from_field} ({outputs[from_field]})"
                )
    # Verify the sender can pay the deposit
    decrease_balance(state, tx.sender, action.deposit, what="the process deposit")
    processes(state).put(
        tx.id, Process(tx.sender, action.deposit, action.max_fee, action.rules, "active", 0, "")
    )


@register_processor(FundProcess)
def process_fund_process(state: State, tx: Transaction, action: FundProcess, ctx: BlockContext) -> None:
    """Top up a process; one stopped for lack of funds becomes active again."""
    process = processes(state).rows.get(action.process)
    # Verify the process exists and is not closed
    if process is None:
        raise ExecutionRejected(f"process {action.process[:16]}… does not exist")
    if process.status == "closed":
        raise ExecutionRejected(f"process {action.process[:16]}… is closed")
    decrease_balance(state, tx.sender, action.amount, what="the funding")
    processes(state).put(
        action.process, process._replace(balance=process.balance + action.amount, status="active", reason="")
    )


@register_processor(CloseProcess)
def process_close_process(state: State, tx: Transaction, action: CloseProcess, ctx: BlockContext) -> None:
    """Close a process: its balance returns to the owner; its open executions refund the owner."""
    process = processes(state).rows.get(action.process)
    # Verify the process exists, is the sender's and is not closed yet
    if process is None:
        raise ExecutionRejected(f"process {action.process[:16]}… does not exist")
    if process.owner != tx.sender:
        raise ExecutionRejected(f"process {action.process[:16]}… belongs to {process.owner}")
    if process.status == "closed":
        raise ExecutionRejected(f"process {action.process[:16]}… is already closed")
    increase_balance(state, tx.sender, process.balance)
    processes(state).put(
        action.process, process._replace(balance=0, status="closed", reason="closed by its owner")
    )


# --- settlement ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Payout:
    """How a settled fee is divided (every unit accounted for)."""

    runner: int
    developer: int
    verifiers: dict[str, int]
    refund: int


def compute_fee_split(
    fee: int,
    params: Any,
    *,
    accepted: bool,
    error: bool,
    trusted: bool,
    majority: list[str],
) -> Payout:
    """Divide ``fee`` (see the module docstring); runner + developer + verifiers + refund == fee."""
    if not accepted:
        return Payout(0, 0, {}, fee)
    runner = fee * params.runner_share_bps // BPS
    developer = fee * params.developer_share_bps // BPS
    pool = fee - runner - developer
    if error:
        # An honest error: the verifiers who confirmed it earn their pool, the rest is refunded.
        share, left = divmod(pool, len(majority)) if majority else (0, pool)
        return Payout(0, 0, dict.fromkeys(majority, share), fee - pool + left)
    if trusted:
        return Payout(runner + pool, developer, {}, 0)
    if not majority:
        return Payout(runner, developer, {}, pool)
    share, left = divmod(pool, len(majority))
    return Payout(runner + left, developer, dict.fromkeys(majority, share), 0)


def _credit_payer(state: State, execution: Execution, amount: int) -> None:
    if not amount:
        return
    process = processes(state).rows.get(execution.process) if execution.process else None
    if process is not None and process.status != "closed":
        processes(state).put(execution.process, process._replace(balance=process.balance + amount))
    else:
        increase_balance(state, execution.requester, amount)


def _slash_runner(state: State, execution: Execution) -> int:
    key = runner_key(execution.service, execution.runner)
    runner = runners(state).rows.get(key)
    if runner is None:
        return 0
    cut = runner.stake * state.params.runner_slash_bps // BPS
    runners(state).put(key, runner._replace(stake=runner.stake - cut, slashed=runner.slashed + 1))
    record_burned(state, cut)
    return cut


def settle(state: State, ctx: BlockContext, execution_id: str, *, accepted: bool, reason: str) -> None:
    """Pay or refund an execution whose result was decided, then run the process worker."""
    execution = executions(state).rows[execution_id]
    _, spec = get_spec(state, execution.service)
    task = get_task(spec, execution.task)
    winner = "accept" if accepted else "reject"
    majority = [v for v, verdict in execution.verdicts if verdict == winner]
    error = bool(execution.error)
    payout = compute_fee_split(
        execution.fee,
        state.params,
        accepted=accepted,
        error=error,
        trusted=task.verification == "trusted",
        majority=majority,
    )
    if payout.runner:
        increase_balance(state, execution.runner, payout.runner)
    if payout.developer:
        increase_balance(state, services(state).rows[execution.service].developer, payout.developer)
    for verifier, amount in sorted(payout.verifiers.items()):
        if amount:
            increase_balance(state, verifier, amount)
    _credit_payer(state, execution, payout.refund)
    if accepted:
        status = FAILED if error else COMPLETED
        if not error:
            key = runner_key(execution.service, execution.runner)
            runner = runners(state).rows.get(key)
            if runner is not None:
                runners(state).put(key, runner._replace(completed=runner.completed + 1))
    else:
        status = FAILED
        cut = _slash_runner(state, execution)
        reason = f"{reason}; runner slashed {cut}, fee refunded"
    executions(state).put(
        execution_id, execution._replace(status=status, settled_slot=ctx.slot, outcome=reason)
    )
    open_executions(state).delete(execution_id)
    if status == COMPLETED and execution.process:
        run_process_worker(state, ctx, execution_id)


def expire(state: State, ctx: BlockContext, execution_id: str) -> None:
    """No result by the deadline: slash the runner, refund the payer."""
    execution = executions(state).rows[execution_id]
    cut = _slash_runner(state, execution)
    _credit_payer(state, execution, execution.fee)
    executions(state).put(
        execution_id,
        execution._replace(
            status=EXPIRED,
            settled_slot=ctx.slot,
            outcome=f"no result by slot {execution.deadline_slot}; runner slashed {cut}, fee refunded",
        ),
    )
    open_executions(state).delete(execution_id)


def run_process_worker(state: State, ctx: BlockContext, execution_id: str) -> None:
    """The process worker: request the follow-ups of a completed process execution.

    It never raises: a follow-up it cannot request stops the process with the reason.
    """
    execution = executions(state).rows[execution_id]
    process = processes(state).rows.get(execution.process)
    if process is None or process.status != "active":
        return
    outputs = orjson.loads(execution.outputs)
    for index, (on_service, on_task, then_service, then_task, mapping) in enumerate(process.rules):
        if (on_service, on_task) != (execution.service, execution.task):
            continue
        process = processes(state).rows[execution.process]
        follow_id = compute_id({"parent": execution_id, "rule": index})
        try:
            _, spec = get_spec(state, then_service)
            task = get_task(spec, then_task)
            inputs = check_values(
                {to: outputs[src] for to, src in mapping},
                task.inputs,
                "inputs",
                state.params.max_execution_io_bytes,
            )
            runner, fee, verifiers = assign(
                state, then_service, task, process.max_fee, "", compute_seed(ctx.header.prev_id, follow_id)
            )
        except ExecutionRejected as exc:
            processes(state).put(execution.process, process._replace(status="stopped", reason=exc.message))
            return
        if process.balance < fee:
            processes(state).put(
                execution.process,
                process._replace(
                    status="stopped", reason=f"out of funds: {process.balance} left, {then_task} costs {fee}"
                ),
            )
            return
        processes(state).put(
            execution.process,
            process._replace(balance=process.balance - fee, executions=process.executions + 1),
        )
        _open_execution(
            state,
            ctx,
            follow_id,
            service_id=then_service,
            task=task,
            inputs=inputs,
            requester=process.owner,
            process=execution.process,
            parent=execution_id,
            runner=runner,
            fee=fee,
            verifiers=verifiers,
        )


@register_end_block_hook
def process_execution_timeouts(state: State, ctx: BlockContext) -> None:
    """Expire executions without a result and decide verifications that timed out."""
    index = open_executions(state).rows
    due = sorted(eid for eid, entry in index.items() if entry.deadline_slot <= ctx.slot)
    for execution_id in due:
        execution = executions(state).rows[execution_id]
        if execution.status == REQUESTED:
            expire(state, ctx, execution_id)
            continue
        accepts = sum(1 for _, v in execution.verdicts if v == "accept")
        rejects = len(execution.verdicts) - accepts
        accepted = accepts >= rejects
        settle(
            state,
            ctx,
            execution_id,
            accepted=accepted,
            reason=f"verification timed out: {accepts} accept, {rejects} reject "
            f"({'accepted' if accepted else 'rejected'} by the verdicts received)",
        )


def compute_escrowed(state: State) -> int:
    """Tokens held by this module: runner stakes, open execution fees, process balances."""
    total = sum(r.stake for r in runners(state).rows.values())
    table = executions(state).rows
    total += sum(table[eid].fee for eid in open_executions(state).rows)
    total += sum(p.balance for p in processes(state).rows.values())
    return total


SUPPLY_HOOKS.append(compute_escrowed)

__all__ = [
    "EXECUTION_STATES",
    "MODES",
    "VALUE_TYPES",
    "CloseProcess",
    "CreateProcess",
    "Execution",
    "FundProcess",
    "Process",
    "PublishService",
    "RegisterRunner",
    "RequestExecution",
    "Runner",
    "Service",
    "SubmitResult",
    "SubmitVerdict",
    "UnregisterRunner",
    "compute_escrowed",
    "compute_fee_split",
    "compute_result_hash",
    "compute_service_id",
    "parse_definition",
]
