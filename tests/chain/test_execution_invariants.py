"""Invariants with executions (hypothesis): random publishes, registrations, requests,
results right or wrong, verdicts, processes and timeouts over random block sequences.

* total supply == genesis supply + minted - burned (runner stakes, escrowed fees and process
  balances included), after every block;
* the incremental state root equals the one computed from scratch, and a replay gives the
  same root;
* an escrow is held exactly while an execution is open.
"""

from __future__ import annotations

import os

from hypothesis import event, given, settings
from hypothesis import strategies as st

from chain.core import compute_full_state_root, compute_state_root, create_genesis_state, state_transition
from chain.core.execution_actions import (
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
from chain.core.execution_records import OPEN_STATES, executions, open_executions, processes
from chain.core.helpers import compute_total_supply
from chain.core.servicetypes import compute_service_id
from tests.helpers.chain import ChainSim, make_tx
from tests.helpers.executions import ECHO, HASHING, MATH, NOTARY, RUNNERS, USERS, ExecSim, exec_params

EXAMPLES = int(os.environ.get("BPPOOL_INVARIANT_EXAMPLES", "40"))
DEFINITIONS = {d["name"]: d for d in (HASHING, NOTARY, ECHO, MATH)}
IDS = {name: compute_service_id(d) for name, d in DEFINITIONS.items()}
REQUESTS = [
    ("hashing", "sha256", {"data": "00ff"}),
    ("notary", "notarize", {"text": "hi"}),
    ("echo", "echo", {"value": [1, 2]}),
    ("math", "factorize", {"n": 12}),
    ("math", "sum", {"values": [1, 2]}),
]
OUTPUTS: dict[str, dict[str, object]] = {
    "sha256": {"digest": "ab"},
    "notarize": {"tx_id": "00" * 32, "block": 3},
    "echo": {"value": [1, 2]},
    "factorize": {"factors": [2, 2, 3]},
    "sum": {"total": 3},
}
EVERYONE = [*USERS, *RUNNERS]
fees = st.sampled_from([0, 1, 5_0000, 10_0000, 50_0000])

requests = st.tuples(st.just("request"), st.sampled_from(USERS), st.integers(0, len(REQUESTS) - 1), fees)
results = st.tuples(
    st.just("result"), st.integers(0, 20), st.sampled_from(["right", "wrong", "error"]), st.none()
)
verdicts = st.tuples(st.just("verdict"), st.integers(0, 20), st.booleans(), st.integers(0, 2))
operations = st.one_of(
    requests,
    results,
    verdicts,
    verdicts,
    st.tuples(st.just("publish"), st.sampled_from(EVERYONE), st.sampled_from(sorted(DEFINITIONS)), st.none()),
    st.tuples(st.just("register"), st.sampled_from(RUNNERS), st.sampled_from(sorted(IDS)), fees),
    st.tuples(st.just("unregister"), st.sampled_from(RUNNERS), st.sampled_from(sorted(IDS)), st.none()),
    requests,
    results,
    verdicts,
    st.tuples(st.just("process"), st.sampled_from(USERS), st.none(), fees),
    st.tuples(st.just("fund"), st.sampled_from(USERS), st.integers(0, 5), fees),
    st.tuples(st.just("close"), st.sampled_from(USERS), st.integers(0, 5), st.none()),
    st.tuples(st.just("start"), st.sampled_from(USERS), st.integers(0, 5), st.none()),
)
steps = st.lists(
    st.tuples(st.sampled_from([0, 0, 0, 1, 8]), st.lists(operations, max_size=8)),
    min_size=1,
    max_size=25,
)


def pick(items: list, index: int):  # type: ignore[no-untyped-def,type-arg]
    return items[index % len(items)] if items else None


def build_action(sim: ChainSim, op: tuple):  # type: ignore[no-untyped-def,type-arg]
    kind, a, b, c = op
    state = sim.state
    open_ids = sorted(open_executions(state).rows)
    process_ids = sorted(processes(state).rows)
    if kind == "publish":
        return a, PublishService(DEFINITIONS[b])
    if kind == "register":
        return a, RegisterRunner(IDS[b], 100_0000 + c, 5_0000 + c)
    if kind == "unregister":
        return a, UnregisterRunner(IDS[b])
    if kind == "request":
        service, task, inputs = REQUESTS[b]
        return a, RequestExecution(IDS[service], task, inputs, c)
    if kind == "result":
        execution_id = pick(open_ids, a)
        if execution_id is None:
            return None
        execution = executions(state).rows[execution_id]
        if b == "error":
            return execution.runner, SubmitResult(execution_id, error="failed")
        outputs = dict(OUTPUTS[execution.task])
        if b == "wrong":
            outputs = {k: ([9] if isinstance(v, list) else v) for k, v in outputs.items()}
        return execution.runner, SubmitResult(execution_id, outputs)
    if kind == "verdict":
        execution_id = pick(open_ids, a)
        if execution_id is None:
            return None
        execution = executions(state).rows[execution_id]
        verifier = pick(list(execution.verifiers), c)
        if verifier is None:
            return None
        if execution.service == IDS["notary"]:
            return verifier, SubmitVerdict(execution_id, accept=b)
        return verifier, SubmitVerdict(execution_id, result_hash=execution.result_hash if b else "cd" * 32)
    if kind == "process":
        math = IDS["math"]
        return a, CreateProcess(((math, "factorize", math, "sum", (("values", "factors"),)),), c, 50_0000)
    if kind == "fund":
        process_id = pick(process_ids, b)
        return (a, FundProcess(process_id, max(c, 1))) if process_id else None
    if kind == "close":
        process_id = pick(process_ids, b)
        return (a, CloseProcess(process_id)) if process_id else None
    if kind == "start":
        process_id = pick(process_ids, b)
        if process_id is None:
            return None
        owner = processes(state).rows[process_id].owner
        return owner, RequestExecution(IDS["math"], "factorize", {"n": 12}, 50_0000, process=process_id)
    raise AssertionError(kind)


@settings(max_examples=EXAMPLES, deadline=None)
@given(steps)
def test_supply_is_conserved_and_roots_are_deterministic_with_executions(plan) -> None:  # type: ignore[no-untyped-def]
    # Start with the sample services published and the four runners on each (two blocks).
    ex = ExecSim(params=exec_params(execution_timeout_slots=6, verification_timeout_slots=6))
    sim, genesis = ex.sim, ex.sim.genesis
    supply = genesis.initial_supply
    for skip, ops in plan:
        nonces: dict[str, int] = {}
        txs = []
        for op in ops:
            built = build_action(sim, op)
            if built is None:
                continue
            sender, action = built
            nonce = nonces.get(sender, sim.state.accounts[sender].nonce)
            nonces[sender] = nonce + 1
            txs.append(make_tx(sim.state, sender, action, nonce=nonce))
        sim.produce(sim.state.slot + 1 + skip, txs)
        meta = sim.state.chain
        assert compute_total_supply(sim.state) == supply + meta.minted - meta.burned
        assert all(a.balance >= 0 for a in sim.state.accounts.rows.values())
        table = executions(sim.state).rows
        assert set(open_executions(sim.state).rows) == {
            e for e, x in table.items() if x.status in OPEN_STATES
        }
    for execution in executions(sim.state).rows.values():
        event(f"execution {execution.status}")
    assert compute_state_root(sim.state) == compute_full_state_root(sim.state)
    replay = create_genesis_state(genesis)
    for block in sim.blocks:
        state_transition(replay, block)
    assert compute_state_root(replay) == compute_state_root(sim.state)
