"""process_submit_verdict: majority decides; fee split, slash and refund."""

from __future__ import annotations

import pytest

from chain.core.execution_actions import SubmitVerdict
from tests.helpers.assertions import assert_consistent, rejected_with
from tests.helpers.executions import PRICE, STAKE, ExecSim, include, tx


def balances(ex: ExecSim) -> dict[str, int]:
    return {name: ex.balance(name) for name in ("alice", "dev", "runa", "runb", "runc", "rund")}


def test_accepted_by_a_majority_pays_runner_developer_and_the_majority() -> None:
    ex = ExecSim()
    execution_id = ex.submitted_sha256()
    execution = ex.execution(execution_id)
    before = balances(ex)
    ex.verdicts(execution_id, reject=1, accept=2)
    after = ex.execution(execution_id)
    assert after.status == "completed" and after.outcome == "accepted by 2 of 3 verifiers"
    majority = execution.verifiers[1:]
    # 100000 units: runner 80000, developer 10000, verifiers' pool 10000 = 5000 each for two
    assert ex.balance(execution.runner) - before[execution.runner] == PRICE * 8 // 10
    assert ex.balance("dev") - before["dev"] == PRICE // 10
    for verifier in majority:
        assert ex.balance(verifier) - before[verifier] == PRICE // 20 - 10  # minus its tx fee
    assert ex.balance(execution.verifiers[0]) - before[execution.verifiers[0]] == -10
    assert ex.balance("alice") == before["alice"]
    assert_consistent(ex.state, ex.sim.genesis.initial_supply)


def test_rejected_by_a_majority_slashes_the_runner_and_refunds_the_user() -> None:
    ex = ExecSim()
    execution_id = ex.submitted_sha256(digest="wrong")
    runner = ex.execution(execution_id).runner
    before = balances(ex)
    ex.verdicts(execution_id, reject=2)
    after = ex.execution(execution_id)
    slash = ex.runner_slash
    assert after.status == "failed" and after.outcome == (
        f"rejected by 2 of 3 verifiers; runner slashed {slash}, fee refunded"
    )
    assert ex.balance("alice") - before["alice"] == PRICE
    assert ex.balance(runner) == before[runner]
    from chain.core.execution_records import runners

    record = runners(ex.state).rows[f"{ex.ids['hashing']}/{runner}"]
    assert record.stake == STAKE - slash and record.slashed == 1
    assert ex.state.chain.burned == slash
    assert_consistent(ex.state, ex.sim.genesis.initial_supply)


def test_a_verdict_after_the_majority_is_a_harmless_no_op() -> None:
    ex = ExecSim()
    execution_id = ex.submitted_sha256()
    ex.verdicts(execution_id, accept=2)
    settled = ex.execution(execution_id)
    late = settled.verifiers[2]
    before = ex.balance(late)
    include(ex.sim, [tx(ex.sim, late, SubmitVerdict(execution_id, result_hash=settled.result_hash))])  # type: ignore[arg-type]
    assert ex.execution(execution_id) == settled
    assert ex.balance(late) == before - 10  # only its transaction fee
    assert_consistent(ex.state, ex.sim.genesis.initial_supply)


def test_an_external_task_takes_accept_verdicts() -> None:
    ex = ExecSim()
    execution_id = ex.request("notary", "notarize", {"text": "hello"})
    ex.submit(execution_id, {"tx_id": "ab" * 32, "block": 7})
    ex.verdicts(execution_id, accept=2)
    assert ex.execution(execution_id).status == "completed"
    other = ex.request("notary", "notarize", {"text": "again"})
    ex.submit(other, {"tx_id": "cd" * 32, "block": 8})
    ex.verdicts(other, reject=2)
    assert ex.execution(other).status == "failed"


def test_an_honest_error_pays_only_the_verifiers() -> None:
    ex = ExecSim()
    execution_id = ex.request("math", "factorize", {"n": 0})
    ex.submit(execution_id, error="cannot factorize 0")
    execution = ex.execution(execution_id)
    before = balances(ex)
    ex.verdicts(execution_id, accept=2)
    after = ex.execution(execution_id)
    assert after.status == "failed" and after.error == "cannot factorize 0"
    assert ex.balance("alice") - before["alice"] == PRICE - PRICE // 10
    assert ex.balance(execution.runner) == before[execution.runner]
    assert ex.state.chain.burned == 0
    assert_consistent(ex.state, ex.sim.genesis.initial_supply)


def test_verdict_rejections() -> None:
    ex = ExecSim()
    execution_id = ex.request("hashing", "sha256", {"data": "00"})
    execution = ex.execution(execution_id)
    verifier = execution.verifiers[0]
    exc = rejected_with(ex.state, tx(ex.sim, verifier, SubmitVerdict(execution_id, result_hash="ab" * 32)))  # type: ignore[arg-type]
    assert exc.code == "wrong_execution_state" and "not in_progress" in exc.message
    ex.submit(execution_id, {"digest": "ok"})
    exc = rejected_with(
        ex.state, tx(ex.sim, execution.runner, SubmitVerdict(execution_id, result_hash="ab" * 32))
    )  # type: ignore[arg-type]
    assert exc.code == "not_assigned"
    exc = rejected_with(ex.state, tx(ex.sim, verifier, SubmitVerdict(execution_id, accept=True)))  # type: ignore[arg-type]
    assert exc.code == "malformed_transaction" and "recomputed result_hash" in exc.message
    ex.verdicts(execution_id, reject=1)
    exc = rejected_with(ex.state, tx(ex.sim, verifier, SubmitVerdict(execution_id, result_hash="ab" * 32)))  # type: ignore[arg-type]
    assert exc.code == "wrong_execution_state" and "already gave its verdict" in exc.message
    notary = ex.request("notary", "notarize", {"text": "x"})
    ex.submit(notary, {"tx_id": "ab" * 32, "block": 1})
    judge = ex.execution(notary).verifiers[0]
    exc = rejected_with(ex.state, tx(ex.sim, judge, SubmitVerdict(notary, result_hash="ab" * 32)))  # type: ignore[arg-type]
    assert exc.code == "malformed_transaction" and "accept: true or false" in exc.message


@pytest.mark.parametrize("fee", [1, 7, 99_999, 100_003])
def test_every_unit_of_odd_fees_is_accounted(fee: int) -> None:
    from chain.core import ChainParams
    from chain.core.settlement import compute_fee_split

    params = ChainParams()
    for majority in ([], ["a"], ["a", "b"], ["a", "b", "c"]):
        for accepted, error, trusted in [
            (True, False, False),
            (True, True, False),
            (True, False, True),
            (False, False, False),
        ]:
            split = compute_fee_split(
                fee, params, accepted=accepted, error=error, trusted=trusted, majority=majority
            )
            assert split.runner + split.developer + sum(split.verifiers.values()) + split.refund == fee
            assert min(split.runner, split.developer, split.refund, *split.verifiers.values(), 0) >= 0
