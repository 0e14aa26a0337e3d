"""Settlement of paid executions: fee splits, payouts, slashing, timeouts, the process worker.

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

When a process's execution completes, the *process worker* (the MESG role that creates
executions from processes) requests the follow-ups its rules name, paid from its balance.

Spec: ``docs/spec/transition.md`` §5 (settlement).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from .codec import compute_id
from .errors import ExecutionRejected
from .execution_records import (
    COMPLETED,
    EXPIRED,
    FAILED,
    REQUESTED,
    Execution,
    executions,
    get_spec,
    open_execution,
    open_executions,
    processes,
    runner_key,
    runners,
    services,
)
from .helpers import SUPPLY_HOOKS, increase_balance, record_burned
from .params import BPS
from .registry import BlockContext, register_end_block_hook
from .selection import assign, compute_seed
from .servicetypes import check_values, get_task
from .state import State

# --- containers ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Payout:
    """How a settled fee is divided (every unit accounted for)."""

    runner: int
    developer: int
    verifiers: dict[str, int]
    refund: int


# --- helpers -------------------------------------------------------------------------------


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


# --- settlement ----------------------------------------------------------------------------


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
        open_execution(
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
