"""The state records of paid executions: services, runners, executions, processes.

Each record is a row of a state table (:class:`chain.core.state.Table`); the getters here
read them (``get_*``) and :func:`open_execution` writes a new execution with its timeout.
"""

from __future__ import annotations

from typing import NamedTuple

import orjson

from .errors import ExecutionRejected, UnknownExecution, UnknownService
from .registry import BlockContext
from .servicetypes import ServiceSpec, TaskSpec, parse_definition
from .state import State, Table

# --- constants -----------------------------------------------------------------------------

REQUESTED, IN_PROGRESS, COMPLETED, FAILED, EXPIRED = (
    "requested",
    "in_progress",
    "completed",
    "failed",
    "expired",
)
EXECUTION_STATES = (REQUESTED, IN_PROGRESS, COMPLETED, FAILED, EXPIRED)
OPEN_STATES = (REQUESTED, IN_PROGRESS)

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


Rule = tuple[str, str, str, str, tuple[tuple[str, str], ...]]
"""``(on_service, on_task, then_service, then_task, ((input, output), ...))``."""


class Process(NamedTuple):
    """A process: its balance pays the executions it requests (see :data:`Rule`)."""

    owner: str
    balance: int
    max_fee: int
    rules: tuple[Rule, ...]
    status: str
    executions: int
    reason: str


class OpenExecution(NamedTuple):
    """Index of the executions not settled yet, with the slot they time out at."""

    deadline_slot: int


# --- tables --------------------------------------------------------------------------------


# The execution tables, in the state from their first record on (``docs/spec/state.md``).
EXECUTION_TABLES = ("services", "runners", "service_runners", "executions", "processes", "open_executions")


def services(state: State) -> Table[Service]:
    """Published services by id."""
    return state.table("services")


def runners(state: State) -> Table[Runner]:
    """Runner registrations by :func:`runner_key`."""
    return state.table("runners")


def service_runners(state: State) -> Table[ServiceRunners]:
    """The runners of each service, by service id."""
    return state.table("service_runners")


def executions(state: State) -> Table[Execution]:
    """Executions by id."""
    return state.table("executions")


def processes(state: State) -> Table[Process]:
    """Processes by id."""
    return state.table("processes")


def open_executions(state: State) -> Table[OpenExecution]:
    """The executions not settled yet, by id."""
    return state.table("open_executions")


def runner_key(service_id: str, account: str) -> str:
    """The key of ``account``'s registration as a runner of ``service_id``."""
    return f"{service_id}/{account}"


# --- getters -------------------------------------------------------------------------------

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


def get_execution(state: State, execution_id: str) -> Execution:
    """The execution ``execution_id``, or :class:`UnknownExecution`."""
    execution = executions(state).rows.get(execution_id)
    if execution is None:
        raise UnknownExecution(f"execution {execution_id[:16]}… does not exist")
    return execution


def get_open_process(
    state: State, process_id: str, *, owner: str | None = None, closed: str = "is closed"
) -> Process:
    """The process ``process_id`` if it exists, is not closed and (given ``owner``) is owned
    by ``owner``; :class:`ExecutionRejected` otherwise (``closed`` says why, if closed)."""
    process = processes(state).rows.get(process_id)
    # Verify the process exists, is the owner's (when it matters) and is not closed
    if process is None:
        raise ExecutionRejected(f"process {process_id[:16]}… does not exist")
    if owner is not None and process.owner != owner:
        raise ExecutionRejected(f"process {process_id[:16]}… belongs to {process.owner}")
    if process.status == "closed":
        raise ExecutionRejected(f"process {process_id[:16]}… {closed}")
    return process


# --- writers -------------------------------------------------------------------------------


def open_execution(
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
    """Write a new requested execution (its fee already escrowed) and its timeout."""
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
