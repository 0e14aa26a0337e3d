"""``/v1/executions/*``: services, runners, executions and processes at the node's head.

Read-only views of the execution module's state (the writes are transactions sent to
``/v1/chain/push_transaction``). Lists are filtered by query parameters and bounded by
``limit`` (at most 1,000).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

import orjson
from fastapi import APIRouter, Request
from pydantic import BaseModel

from chain.core.execution_records import (
    EXECUTION_STATES,
    OPEN_STATES,
    Execution,
    Process,
    Runner,
    Service,
    executions,
    open_executions,
    processes,
    runners,
    service_runners,
    services,
)
from chain.core.state import State
from chain.core.types import is_valid_account_name
from chain.node import schemas
from chain.node.node import Node
from service_shell.apidocs import query_parameters
from service_shell.web import ApiError, JSONResponse, int_field

router = APIRouter(prefix="/v1/executions", tags=["executions"])
HASH_LENGTH = 64
R = TypeVar("R")


def _query(model: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra=`` for the query parameters a route reads by hand."""
    return {"parameters": query_parameters(model)}


def _state(request: Request) -> State:
    node: Node = request.app.state.node
    return node.state


def _limit(request: Request) -> int:
    return int_field(request.query_params.get("limit", "100"), "limit", minimum=1, maximum=1000)


def _account_filter(request: Request, name: str) -> str | None:
    value = request.query_params.get(name)
    if value is not None and not is_valid_account_name(value):
        raise ApiError(400, "invalid_name", f"{name}: {value!r} is not a valid account name")
    return value


def _hash(value: str, what: str) -> str:
    if len(value) != HASH_LENGTH or any(c not in "0123456789abcdef" for c in value):
        raise ApiError(400, "malformed", f"{what}: expected 64 lowercase hex characters")
    return value


def _row(rows: Mapping[str, R], row_id: str, what: str, missing: str = "does not exist") -> R:
    """The row of ``rows`` with the id ``row_id`` (64 hex characters, or a 400), or a 404
    ``unknown_<what>``."""
    row = rows.get(_hash(row_id, what))
    if row is None:
        raise ApiError(404, f"unknown_{what}", f"{what} {row_id[:16]}… {missing}")
    return row


def service_view(state: State, service_id: str, service: Service, *, detail: bool = False) -> dict[str, Any]:
    record = service_runners(state).rows.get(service_id)
    names = list(record.runners) if record else []
    view: dict[str, Any] = {
        "id": service_id,
        "name": service.name,
        "developer": service.developer,
        "price": service.price,
        "published_slot": service.published_slot,
        "definition": orjson.loads(service.definition),
        "runners": names,
    }
    if detail:
        view["runners"] = [
            runner_view(service_id, n, runners(state).rows[f"{service_id}/{n}"]) for n in names
        ]
    return view


def runner_view(service_id: str, account: str, runner: Runner) -> dict[str, Any]:
    return {"service": service_id, "account": account, **runner._asdict()}


def execution_view(execution_id: str, execution: Execution) -> dict[str, Any]:
    data = execution._asdict()
    data["id"] = execution_id
    data["inputs"] = orjson.loads(execution.inputs)
    data["outputs"] = orjson.loads(execution.outputs) if execution.outputs else None
    data["verifiers"] = list(execution.verifiers)
    data["verdicts"] = [{"verifier": v, "verdict": d} for v, d in execution.verdicts]
    return data


def process_view(process_id: str, process: Process) -> dict[str, Any]:
    data = process._asdict()
    data["id"] = process_id
    data["rules"] = [
        {"on": {"service": a, "task": b}, "then": {"service": c, "task": d}, "inputs": dict(m)}
        for a, b, c, d, m in process.rules
    ]
    return data


@router.get("/services", response_model=schemas.Services)
async def list_services(request: Request) -> JSONResponse:
    """Every published service with its tasks and the accounts running it."""
    state = _state(request)
    table = services(state).rows
    return JSONResponse({"services": [service_view(state, sid, table[sid]) for sid in sorted(table)]})


@router.get("/services/{service_id}", response_model=schemas.ServiceView)
async def get_service(service_id: str, request: Request) -> JSONResponse:
    """A service with its runners' stakes, prices and records."""
    state = _state(request)
    service = _row(services(state).rows, service_id, "service", "is not published")
    return JSONResponse(service_view(state, service_id, service, detail=True))


@router.get("/runners", response_model=schemas.Runners, openapi_extra=_query(schemas.RunnersQuery))
async def list_runners(request: Request) -> JSONResponse:
    """Runner registrations, optionally for one ``service`` or one ``account``."""
    state = _state(request)
    service = request.query_params.get("service")
    if service is not None:
        _hash(service, "service")
    account = _account_filter(request, "account")
    found = []
    for key in sorted(runners(state).rows):
        service_id, _, name = key.partition("/")
        if (service is None or service_id == service) and (account is None or name == account):
            found.append(runner_view(service_id, name, runners(state).rows[key]))
    return JSONResponse({"runners": found[: _limit(request)]})


@router.get("/executions", response_model=schemas.Executions, openapi_extra=_query(schemas.ExecutionsQuery))
async def list_executions(request: Request) -> JSONResponse:
    """Executions, newest first, filtered by ``status``, ``service``, ``task``, ``runner``,
    ``verifier``, ``requester``, ``process`` (and bounded by ``limit``)."""
    state = _state(request)
    q = request.query_params
    status = q.get("status")
    if status is not None and status not in EXECUTION_STATES:
        raise ApiError(400, "malformed", f"status: one of {', '.join(EXECUTION_STATES)}")
    runner, verifier, requester = (_account_filter(request, n) for n in ("runner", "verifier", "requester"))
    service, process, task = q.get("service"), q.get("process"), q.get("task")
    limit = _limit(request)
    table = executions(state).rows
    candidates = sorted(open_executions(state).rows) if status in OPEN_STATES else list(table)
    found = []
    for execution_id in candidates:
        e = table[execution_id]
        if (
            (status is None or e.status == status)
            and (runner is None or e.runner == runner)
            and (verifier is None or verifier in e.verifiers)
            and (requester is None or e.requester == requester)
            and (service is None or e.service == service)
            and (process is None or e.process == process)
            and (task is None or e.task == task)
        ):
            found.append((e.created_slot, execution_id, e))
    found.sort(key=lambda item: (-item[0], item[1]))
    return JSONResponse({"executions": [execution_view(eid, e) for _, eid, e in found[:limit]]})


@router.get("/executions/{execution_id}", response_model=schemas.ExecutionView)
async def get_execution(execution_id: str, request: Request) -> JSONResponse:
    """One execution: inputs, assignment, result, verdicts and how it settled."""
    execution = _row(executions(_state(request)).rows, execution_id, "execution")
    return JSONResponse(execution_view(execution_id, execution))


@router.get("/processes", response_model=schemas.Processes, openapi_extra=_query(schemas.ProcessesQuery))
async def list_processes(request: Request) -> JSONResponse:
    """Processes, optionally of one ``owner``."""
    state = _state(request)
    owner = _account_filter(request, "owner")
    table = processes(state).rows
    found = [
        process_view(pid, table[pid]) for pid in sorted(table) if owner is None or table[pid].owner == owner
    ]
    return JSONResponse({"processes": found[: _limit(request)]})


@router.get("/processes/{process_id}", response_model=schemas.ProcessView)
async def get_process(process_id: str, request: Request) -> JSONResponse:
    """One process: balance, rules, status and why it stopped."""
    process = _row(processes(_state(request)).rows, process_id, "process")
    return JSONResponse(process_view(process_id, process))
