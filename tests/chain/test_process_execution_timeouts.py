"""process_execution_timeouts: expiry without a result, verification timeouts."""

from __future__ import annotations

from chain.core.execution_records import open_executions
from tests.helpers.assertions import assert_consistent
from tests.helpers.executions import PRICE, ExecSim


def run_until(ex: ExecSim, slot: int) -> None:
    while ex.state.slot < slot:
        ex.sim.produce()


def test_no_result_by_the_deadline_expires_slashes_and_refunds() -> None:
    ex = ExecSim()
    before = ex.balance("alice")
    execution_id = ex.request("hashing", "sha256", {"data": "00"})
    execution = ex.execution(execution_id)
    run_until(ex, execution.deadline_slot - 1)
    assert ex.execution(execution_id).status == "requested"
    run_until(ex, execution.deadline_slot)
    after = ex.execution(execution_id)
    assert after.status == "expired" and after.settled_slot == execution.deadline_slot
    assert f"runner slashed {ex.runner_slash}" in after.outcome
    assert ex.balance("alice") == before - 10  # only the transaction fee is gone
    assert execution_id not in open_executions(ex.state)
    assert_consistent(ex.state, ex.sim.genesis.initial_supply)


def test_verification_timeout_decides_by_the_verdicts_received() -> None:
    ex = ExecSim()
    accepted = ex.submitted_sha256()
    ex.verdicts(accepted, accept=1)
    nobody = ex.submitted_sha256("01")
    rejected = ex.submitted_sha256("02", "bad")
    ex.verdicts(rejected, reject=1)
    before = ex.balance("alice")
    run_until(ex, ex.execution(rejected).deadline_slot)
    one = ex.execution(accepted)
    assert one.status == "completed" and "1 accept, 0 reject (accepted" in one.outcome
    silent = ex.execution(nobody)
    assert silent.status == "completed" and "0 accept, 0 reject (accepted" in silent.outcome
    lost = ex.execution(rejected)
    assert lost.status == "failed" and "0 accept, 1 reject (rejected" in lost.outcome
    # refunds: the rejected fee, and the unearned verifiers' pool of the silent one
    assert ex.balance("alice") - before == PRICE + PRICE // 10
    assert not open_executions(ex.state)
    assert_consistent(ex.state, ex.sim.genesis.initial_supply)
