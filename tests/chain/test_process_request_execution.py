"""process_request_execution: typed inputs, escrow, deterministic assignment."""

from __future__ import annotations

from chain.core import build_block
from chain.core.execution_actions import RegisterRunner, RequestExecution
from chain.core.execution_records import open_executions
from chain.core.schedule import get_scheduled_producer
from chain.core.selection import draw_verifiers, draw_weighted
from tests.helpers.assertions import assert_consistent, rejected_with
from tests.helpers.executions import PRICE, RUNNERS, ExecSim, include, tx


def test_request_escrows_the_runner_price_and_assigns_runner_and_verifiers() -> None:
    ex = ExecSim()
    before = ex.balance("alice")
    execution_id = ex.request("hashing", "sha256", {"data": "c0ffee"}, max_fee=PRICE * 2)
    execution = ex.execution(execution_id)
    assert execution.status == "requested" and execution.fee == PRICE
    assert execution.runner in RUNNERS and len(execution.verifiers) == 3
    assert execution.runner not in execution.verifiers
    assert execution.deadline_slot == execution.created_slot + ex.state.params.execution_timeout_slots
    assert ex.balance("alice") == before - PRICE - 10
    assert execution_id in open_executions(ex.state)
    assert_consistent(ex.state, ex.sim.genesis.initial_supply)


def test_a_named_runner_is_used() -> None:
    ex = ExecSim()
    execution_id = ex.request("hashing", "sha256", {"data": ""}, runner="runc")
    assert ex.execution(execution_id).runner == "runc"


def test_assignment_is_the_same_on_every_node() -> None:
    ex = ExecSim()
    request = tx(ex.sim, "alice", RequestExecution(ex.ids["math"], "factorize", {"n": 12}, PRICE))  # type: ignore[arg-type]
    slot = ex.state.slot + 1
    producer = get_scheduled_producer(ex.state, slot)
    first = build_block(ex.state, slot=slot, producer=producer, transactions=[request]).block
    second = build_block(ex.state, slot=slot, producer=producer, transactions=[request]).block
    assert first.header.state_root == second.header.state_root


def test_weighted_draw_follows_the_stakes() -> None:
    import hashlib

    picks = [draw_weighted([("a", 1), ("b", 3)], hashlib.sha256(bytes([i])).digest()) for i in range(200)]
    assert 100 < picks.count("b") < 190 and picks.count("a") > 10
    chosen = draw_verifiers([("a", 1), ("b", 1), ("c", 1), ("d", 1)], 3, b"seed")
    assert len(set(chosen)) == 3 and list(chosen) == sorted(chosen)
    assert draw_verifiers([("a", 1)], 3, b"seed") == ("a",)


def test_only_runners_within_the_max_fee_are_drawn() -> None:
    ex = ExecSim(runners=("runa", "runb", "runc"))
    include(ex.sim, [tx(ex.sim, "rund", RegisterRunner(ex.ids["echo"], 100_0000, 1))])  # type: ignore[arg-type]
    for _ in range(3):
        execution_id = ex.request("echo", "echo", {"value": [1]}, max_fee=5)
        assert ex.execution(execution_id).runner == "rund" and ex.execution(execution_id).fee == 1


def test_request_rejections() -> None:
    ex = ExecSim(runners=("runa",))
    hashing = ex.ids["hashing"]

    def reject(action: RequestExecution, sender: str = "alice"):  # type: ignore[no-untyped-def]
        return rejected_with(ex.state, tx(ex.sim, sender, action))

    exc = reject(RequestExecution("ab" * 32, "sha256", {"data": ""}, PRICE))  # type: ignore[arg-type]
    assert exc.code == "unknown_service"
    exc = reject(RequestExecution(hashing, "md5", {"data": ""}, PRICE))  # type: ignore[arg-type]
    assert exc.code == "unknown_service" and "no task 'md5'" in exc.message
    exc = reject(RequestExecution(hashing, "sha256", {"data": "xyz"}, PRICE))  # type: ignore[arg-type]
    assert exc.code == "invalid_io" and "inputs.data: expected bytes" in exc.message
    exc = reject(RequestExecution(hashing, "sha256", {}, PRICE))  # type: ignore[arg-type]
    assert exc.code == "invalid_io" and "missing field(s) data" in exc.message
    exc = reject(RequestExecution(hashing, "sha256", {"data": "", "x": 1}, PRICE))  # type: ignore[arg-type]
    assert exc.code == "invalid_io" and "unknown field(s) x" in exc.message
    exc = reject(RequestExecution(hashing, "sha256", {"data": "00" * 9000}, PRICE))  # type: ignore[arg-type]
    assert exc.code == "invalid_io" and "limit" in exc.message
    exc = reject(RequestExecution(hashing, "sha256", {"data": ""}, PRICE - 1))  # type: ignore[arg-type]
    assert exc.code == "no_runner" and "at most" in exc.message
    exc = reject(RequestExecution(hashing, "sha256", {"data": ""}, PRICE))  # type: ignore[arg-type]
    assert exc.code == "no_runner" and "needs a second runner" in exc.message
    exc = reject(RequestExecution(ex.ids["echo"], "echo", {"value": [1]}, PRICE, runner="runb"))  # type: ignore[arg-type]
    assert exc.code == "no_runner" and "runb is not a runner" in exc.message
    exc = reject(RequestExecution(ex.ids["echo"], "echo", {"value": [True]}, PRICE))  # type: ignore[arg-type]
    assert exc.code == "invalid_io" and "inputs.value[0]: expected int" in exc.message
    poor = tx(ex.sim, "alice", RequestExecution(ex.ids["echo"], "echo", {"value": [1]}, 2**61))  # type: ignore[arg-type]
    assert include(ex.sim, [poor])  # the fee is the runner's price, not the max fee
