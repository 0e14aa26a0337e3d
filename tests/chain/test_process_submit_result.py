"""process_submit_result: who, when, typed outputs; trusted tasks settle at once."""

from __future__ import annotations

from chain.core.execution_actions import SubmitResult
from chain.core.execution_records import open_executions
from chain.core.servicetypes import compute_result_hash
from tests.helpers.assertions import assert_consistent, rejected_with
from tests.helpers.executions import PRICE, ExecSim, tx


def test_a_result_moves_a_verified_task_to_its_verifiers() -> None:
    ex = ExecSim()
    execution_id = ex.request("hashing", "sha256", {"data": "00"})
    ex.submit(execution_id, {"digest": "6e34"})
    execution = ex.execution(execution_id)
    assert execution.status == "in_progress" and execution.result_slot == ex.state.slot
    assert execution.result_hash == compute_result_hash({"digest": "6e34"}, None)
    assert execution.deadline_slot == ex.state.slot + ex.state.params.verification_timeout_slots
    assert open_executions(ex.state).rows[execution_id].deadline_slot == execution.deadline_slot
    assert_consistent(ex.state, ex.sim.genesis.initial_supply)


def test_a_trusted_task_is_paid_on_result() -> None:
    ex = ExecSim()
    execution_id = ex.request("echo", "echo", {"value": [1, 2]})
    runner = ex.execution(execution_id).runner
    before, dev = ex.balance(runner), ex.balance("dev")
    ex.submit(execution_id, {"value": [1, 2]})
    execution = ex.execution(execution_id)
    assert execution.status == "completed" and "trusted" in execution.outcome
    # runner 80 % plus the verifiers' 10 % (nobody verifies), developer 10 %
    assert ex.balance(runner) - before == PRICE * 9 // 10 - 10
    assert ex.balance("dev") - dev == PRICE // 10
    assert execution_id not in open_executions(ex.state)
    assert_consistent(ex.state, ex.sim.genesis.initial_supply)


def test_result_rejections() -> None:
    ex = ExecSim()
    execution_id = ex.request("hashing", "sha256", {"data": "00"})
    runner = ex.execution(execution_id).runner
    other = next(v for v in ex.execution(execution_id).verifiers)

    def reject(sender: str, action: SubmitResult):  # type: ignore[no-untyped-def]
        return rejected_with(ex.state, tx(ex.sim, sender, action))

    exc = reject(other, SubmitResult(execution_id, {"digest": "x"}))  # type: ignore[arg-type]
    assert exc.code == "not_assigned" and f"assigned to {runner}" in exc.message
    exc = reject(runner, SubmitResult("ab" * 32, {"digest": "x"}))  # type: ignore[arg-type]
    assert exc.code == "unknown_execution"
    exc = reject(runner, SubmitResult(execution_id, {"digest": 5}))  # type: ignore[arg-type]
    assert exc.code == "invalid_io" and "outputs.digest: expected str" in exc.message
    exc = reject(runner, SubmitResult(execution_id, {"digest": "x" * 20_000}))  # type: ignore[arg-type]
    assert exc.code == "invalid_io" and "limit" in exc.message
    ex.submit(execution_id, {"digest": "x"})
    exc = reject(runner, SubmitResult(execution_id, {"digest": "y"}))  # type: ignore[arg-type]
    assert exc.code == "wrong_execution_state" and "in_progress" in exc.message


def test_a_result_after_the_deadline_is_refused() -> None:
    ex = ExecSim()
    execution_id = ex.request("hashing", "sha256", {"data": "00"})
    execution = ex.execution(execution_id)
    late = tx(ex.sim, execution.runner, SubmitResult(execution_id, {"digest": "x"}))  # type: ignore[arg-type]
    exc = rejected_with(ex.state, late, slot=execution.deadline_slot + 1)
    assert exc.code == "wrong_execution_state" and "due by slot" in exc.message


def test_malformed_results_never_parse() -> None:
    import pytest

    from chain.core import Transaction
    from chain.core.errors import MalformedInput

    ex = ExecSim()
    wire = tx(ex.sim, "runa", SubmitResult("ab" * 32, {"digest": "x"})).to_dict()  # type: ignore[arg-type]
    wire["action"]["error"] = "both"
    with pytest.raises(MalformedInput, match="exactly one of outputs and error"):
        Transaction.from_dict(wire)
