"""Processes: create, fund, close, and the process worker chaining tasks."""

from __future__ import annotations

from chain.core.execution_actions import CloseProcess, CreateProcess, FundProcess, RequestExecution
from chain.core.execution_records import executions, processes
from tests.helpers.assertions import assert_consistent, rejected_with
from tests.helpers.executions import PRICE, ExecSim, include, tx


def factorize_then_sum(ex: ExecSim) -> tuple:  # type: ignore[type-arg]
    math = ex.ids["math"]
    return ((math, "factorize", math, "sum", (("values", "factors"),)),)


def create(ex: ExecSim, deposit: int) -> str:
    create_tx = tx(ex.sim, "alice", CreateProcess(factorize_then_sum(ex), deposit, PRICE))  # type: ignore[arg-type]
    include(ex.sim, [create_tx])
    return create_tx.id


def start(ex: ExecSim, process_id: str, n: int) -> str:
    request = tx(
        ex.sim, "alice", RequestExecution(ex.ids["math"], "factorize", {"n": n}, PRICE, process=process_id)
    )  # type: ignore[arg-type]
    include(ex.sim, [request])
    return request.id


def test_a_process_chains_two_tasks_paid_from_its_balance() -> None:
    ex = ExecSim()
    before = ex.balance("alice")
    process_id = create(ex, 3 * PRICE)
    assert ex.balance("alice") == before - 3 * PRICE - 10
    first = start(ex, process_id, 12)
    assert processes(ex.state).rows[process_id].balance == 2 * PRICE
    ex.submit(first, {"factors": [2, 2, 3]})
    ex.verdicts(first, accept=2)
    follow = [eid for eid, e in executions(ex.state).items() if e.parent == first]
    assert len(follow) == 1
    child = ex.execution(follow[0])
    assert child.task == "sum" and child.inputs == '{"values":[2,2,3]}' and child.process == process_id
    assert child.requester == "alice" and child.status == "requested"
    process = processes(ex.state).rows[process_id]
    assert process.balance == PRICE and process.executions == 2 and process.status == "active"
    ex.submit(follow[0], {"total": 7})
    ex.verdicts(follow[0], accept=2)
    assert ex.execution(follow[0]).status == "completed"
    assert_consistent(ex.state, ex.sim.genesis.initial_supply)


def test_a_process_out_of_funds_stops_cleanly_and_resumes_when_funded() -> None:
    ex = ExecSim()
    process_id = create(ex, PRICE)
    first = start(ex, process_id, 6)
    ex.submit(first, {"factors": [2, 3]})
    ex.verdicts(first, accept=2)
    process = processes(ex.state).rows[process_id]
    assert process.status == "stopped" and process.reason.startswith("out of funds: 0 left")
    assert not [e for e in executions(ex.state).rows.values() if e.parent == first]
    include(ex.sim, [tx(ex.sim, "bob", FundProcess(process_id, PRICE))])  # type: ignore[arg-type]
    assert processes(ex.state).rows[process_id].status == "active"
    assert_consistent(ex.state, ex.sim.genesis.initial_supply)


def test_refunds_of_process_executions_go_back_to_the_process() -> None:
    ex = ExecSim()
    process_id = create(ex, 2 * PRICE)
    first = start(ex, process_id, 6)
    ex.submit(first, {"factors": [7]})
    ex.verdicts(first, reject=2)
    assert processes(ex.state).rows[process_id].balance == 2 * PRICE


def test_closing_returns_the_balance() -> None:
    ex = ExecSim()
    process_id = create(ex, 2 * PRICE)
    before = ex.balance("alice")
    include(ex.sim, [tx(ex.sim, "alice", CloseProcess(process_id))])  # type: ignore[arg-type]
    assert ex.balance("alice") == before + 2 * PRICE - 10
    assert processes(ex.state).rows[process_id].status == "closed"
    exc = rejected_with(ex.state, tx(ex.sim, "alice", CloseProcess(process_id)))  # type: ignore[arg-type]
    assert "already closed" in exc.message
    exc = rejected_with(ex.state, tx(ex.sim, "bob", FundProcess(process_id, 1)))  # type: ignore[arg-type]
    assert "is closed" in exc.message
    assert_consistent(ex.state, ex.sim.genesis.initial_supply)


def test_process_rejections() -> None:
    ex = ExecSim()
    math, hashing = ex.ids["math"], ex.ids["hashing"]

    def reject(action, sender: str = "alice"):  # type: ignore[no-untyped-def]
        return rejected_with(ex.state, tx(ex.sim, sender, action))

    exc = reject(CreateProcess(((math, "factorize", hashing, "sha256", (("data", "factors"),)),), 1, PRICE))  # type: ignore[arg-type]
    assert exc.code == "invalid_io" and "bytes cannot take factors (list[int])" in exc.message
    exc = reject(CreateProcess(((math, "factorize", math, "sum", (("values", "nope"),)),), 1, PRICE))  # type: ignore[arg-type]
    assert exc.code == "invalid_io" and "no output 'nope'" in exc.message
    exc = reject(CreateProcess(((math, "factorize", math, "sum", ()),), 1, PRICE))  # type: ignore[arg-type]
    assert exc.code == "invalid_io" and "map exactly the inputs values" in exc.message
    exc = reject(CreateProcess(((math, "nothing", math, "sum", (("values", "factors"),)),), 1, PRICE))  # type: ignore[arg-type]
    assert exc.code == "unknown_service"
    exc = reject(CreateProcess(factorize_then_sum(ex), 2**61, PRICE))  # type: ignore[arg-type]
    assert exc.code == "insufficient_balance" and "process deposit" in exc.message
    process_id = create(ex, PRICE - 1)
    exc = reject(RequestExecution(math, "factorize", {"n": 4}, PRICE, process=process_id))  # type: ignore[arg-type]
    assert exc.code == "insufficient_balance" and "holds 99999" in exc.message
    exc = reject(RequestExecution(math, "factorize", {"n": 4}, PRICE, process=process_id), sender="bob")  # type: ignore[arg-type]
    assert "belongs to alice" in exc.message
    exc = reject(RequestExecution(math, "factorize", {"n": 4}, PRICE, process="ab" * 32))  # type: ignore[arg-type]
    assert "does not exist" in exc.message
    exc = reject(CloseProcess(process_id), sender="bob")  # type: ignore[arg-type]
    assert "belongs to alice" in exc.message
