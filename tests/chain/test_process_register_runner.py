"""process_register_runner and process_unregister_runner."""

from __future__ import annotations

from chain.core.containers import Withdraw
from chain.core.execution_actions import RegisterRunner, UnregisterRunner
from chain.core.execution_records import runners, service_runners
from tests.helpers.assertions import assert_consistent, rejected_with
from tests.helpers.executions import PRICE, STAKE, ExecSim, include, tx


def test_registration_stakes_and_lists_the_runner() -> None:
    ex = ExecSim(runners=("runa",))
    hashing = ex.ids["hashing"]
    runner = runners(ex.state).rows[f"{hashing}/runa"]
    assert runner.stake == STAKE and runner.price == PRICE
    assert service_runners(ex.state).rows[hashing].runners == ("runa",)
    before = ex.balance("runb")
    include(ex.sim, [tx(ex.sim, "runb", RegisterRunner(hashing, STAKE, PRICE))])  # type: ignore[arg-type]
    assert service_runners(ex.state).rows[hashing].runners == ("runa", "runb")
    assert ex.balance("runb") == before - STAKE - 10
    assert_consistent(ex.state, ex.sim.genesis.initial_supply)


def test_registration_rejections() -> None:
    ex = ExecSim(runners=("runa",))
    hashing = ex.ids["hashing"]
    exc = rejected_with(ex.state, tx(ex.sim, "runa", RegisterRunner(hashing, STAKE, PRICE)))  # type: ignore[arg-type]
    assert exc.code == "execution_rejected" and "already runs" in exc.message
    exc = rejected_with(ex.state, tx(ex.sim, "runb", RegisterRunner("ab" * 32, STAKE, PRICE)))  # type: ignore[arg-type]
    assert exc.code == "unknown_service"
    exc = rejected_with(ex.state, tx(ex.sim, "runb", RegisterRunner(hashing, 1, PRICE)))  # type: ignore[arg-type]
    assert exc.code == "insufficient_stake" and "at least" in exc.message
    exc = rejected_with(ex.state, tx(ex.sim, "runb", RegisterRunner(hashing, STAKE, 1)))  # type: ignore[arg-type]
    assert exc.code == "execution_rejected" and "below the service's price" in exc.message
    exc = rejected_with(ex.state, tx(ex.sim, "runb", RegisterRunner(hashing, 2**61, PRICE)))  # type: ignore[arg-type]
    assert exc.code == "insufficient_balance" and "runner stake" in exc.message


def test_unregistering_unbonds_the_stake_and_refuses_with_open_work() -> None:
    ex = ExecSim()
    hashing = ex.ids["hashing"]
    execution_id = ex.request("hashing", "sha256", {"data": "00"})
    busy = ex.execution(execution_id).runner
    exc = rejected_with(ex.state, tx(ex.sim, busy, UnregisterRunner(hashing)))  # type: ignore[arg-type]
    assert exc.code == "wrong_execution_state" and "still open" in exc.message
    idle = next(r for r in ("runa", "runb", "runc", "rund") if r != busy)
    include(ex.sim, [tx(ex.sim, idle, UnregisterRunner(hashing))])  # type: ignore[arg-type]
    assert idle not in service_runners(ex.state).rows[hashing].runners
    entry = ex.state.unbonding.rows[idle].entries[0]
    assert entry[0] == f"runner:{hashing[:16]}" and entry[1] == STAKE
    exc = rejected_with(ex.state, tx(ex.sim, idle, UnregisterRunner(hashing)))  # type: ignore[arg-type]
    assert "not a runner" in exc.message
    assert_consistent(ex.state, ex.sim.genesis.initial_supply)
    before = ex.balance(idle)
    for _ in range(ex.state.params.unbonding_slots + 1):
        ex.sim.produce()
    include(ex.sim, [tx(ex.sim, idle, Withdraw())])
    assert ex.balance(idle) == before + STAKE - 10
