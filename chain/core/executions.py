"""Paid executions (MESG-style): the processors of services, runners, executions, processes.

A developer publishes a **service**: tasks with typed inputs and outputs, a price per call (the
floor every runner's price must meet) and a verification mode per task
(:mod:`chain.core.servicetypes`). **Runners** stake on a service at their own price. A user
**requests an execution**: the fee (the runner's price) is escrowed, the runner is the one
named or one the chain picks, stake-weighted among the runners within the user's maximum fee;
for verified tasks, ``verifiers_per_execution`` verifiers are drawn the same way from the
service's other runners (:mod:`chain.core.selection`). The runner **submits the result**; the
verifiers **submit verdicts**: a result hash they recomputed (``reexecute``) or accept/reject
(``external``). A majority settles it (:mod:`chain.core.settlement`).

A **process** holds a balance and rules "when task A of service S completes, request task B of
service T with these outputs mapped to its inputs". Executions requested for a process are paid
from its balance; when one completes, the chain's process worker requests the follow-ups. A
process that cannot pay stops cleanly.

The actions are declared in :mod:`chain.core.execution_actions`, the records in
:mod:`chain.core.execution_records`. Every iteration over a table is sorted.

Spec: ``docs/spec/transition.md`` §5-§6 (executions).
"""

from __future__ import annotations

from .codec import canonical_bytes_trusted, compute_id
from .containers import Transaction
from .errors import (
    ExecutionRejected,
    InsufficientBalance,
    InsufficientStake,
    InvalidIO,
    MalformedInput,
    MalformedTransaction,
    NotAssigned,
    WrongExecutionState,
)
from .execution_actions import (
    CloseProcess,
    CreateProcess,
    FundProcess,
    PublishService,
    RegisterRunner,
    RequestExecution,
    SubmitResult,
    SubmitVerdict,
    UnregisterRunner,
)
from .execution_records import (
    COMPLETED,
    FAILED,
    IN_PROGRESS,
    REQUESTED,
    OpenExecution,
    Process,
    Runner,
    Service,
    ServiceRunners,
    executions,
    get_execution,
    get_open_process,
    get_spec,
    open_execution,
    open_executions,
    processes,
    runner_key,
    runners,
    service_runners,
    services,
)
from .helpers import decrease_balance, increase_balance
from .registry import BlockContext, register_processor
from .selection import assign, compute_seed
from .servicetypes import check_values, compute_result_hash, definition_to_dict, get_task, parse_definition
from .settlement import settle
from .staking import add_unbonding_entry
from .state import State

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
        # Verify the process exists, is the sender's and is open
        process = get_open_process(state, action.process, owner=tx.sender)
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
    open_execution(
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
    # Verify the process exists and is not closed
    process = get_open_process(state, action.process)
    decrease_balance(state, tx.sender, action.amount, what="the funding")
    processes(state).put(
        action.process, process._replace(balance=process.balance + action.amount, status="active", reason="")
    )


@register_processor(CloseProcess)
def process_close_process(state: State, tx: Transaction, action: CloseProcess, ctx: BlockContext) -> None:
    """Close a process: its balance returns to the owner; its open executions refund the owner."""
    # Verify the process exists, is the sender's and is not closed yet
    process = get_open_process(state, action.process, owner=tx.sender, closed="is already closed")
    increase_balance(state, tx.sender, process.balance)
    processes(state).put(
        action.process, process._replace(balance=0, status="closed", reason="closed by its owner")
    )
