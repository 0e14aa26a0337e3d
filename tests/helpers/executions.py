"""Execution factories: service definitions, a chain with runners, inclusion helpers."""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Sequence
from typing import Any

from chain.core import Block, ChainParams, Transaction, build_block
from chain.core.containers import Action
from chain.core.execution_actions import (
    PublishService,
    RegisterRunner,
    RequestExecution,
    SubmitResult,
    SubmitVerdict,
)
from chain.core.execution_records import executions
from chain.core.schedule import get_scheduled_producer
from chain.core.servicetypes import compute_service_id
from chain.runner import samples
from chain.runner.registry import ServicePackage
from tests.helpers.chain import ChainSim, make_genesis, make_tx

RUNNERS = ("runa", "runb", "runc", "rund")
USERS = ("alice", "bob", "dev")
STAKE = 1_000_0000
PRICE = 10_0000


def priced(package: ServicePackage, price: int) -> dict[str, Any]:
    """A copy of a sample service's definition at another price."""
    return {**copy.deepcopy(package.definition), "price": price}


HASHING = priced(samples.HASHING, 5_0000)
NOTARY = priced(samples.NOTARY, 1_0000)
MATH = priced(samples.MATH, 1_0000)

ECHO_TASK = {"inputs": {"value": "list[int]"}, "outputs": {"value": "list[int]"}, "verification": "trusted"}
ECHO: dict[str, Any] = {"name": "echo", "price": 0, "tasks": {"echo": ECHO_TASK}}


def exec_params(**overrides: int) -> ChainParams:
    """Parameters for the execution tests: three verifiers, ten-slot windows."""
    windows = {"execution_timeout_slots": 10, "verification_timeout_slots": 10}
    values = {"verifiers_per_execution": 3, **windows, "unbonding_slots": 50, "min_runner_stake": 100_0000}
    return ChainParams(**{**values, **overrides})


def include(sim: ChainSim, txs: Sequence[Transaction], slot: int | None = None) -> Block:
    """Produce the next block with every one of ``txs`` in it (fails naming any rejection)."""
    slot = sim.state.slot + 1 if slot is None else slot
    built = build_block(
        sim.state, slot=slot, producer=get_scheduled_producer(sim.state, slot), transactions=txs
    )
    assert not built.rejected, [f"{e.code}: {e.message}" for _, e in built.rejected]
    return sim.produce(slot, txs)


def tx(sim: ChainSim, sender: str, action: Action, **kw: Any) -> Transaction:
    return make_tx(sim.state, sender, action, **kw)


class ExecSim:
    """A chain with the sample services published by ``dev`` and four runners on each."""

    def __init__(self, *, params: ChainParams | None = None, runners: Sequence[str] = RUNNERS) -> None:
        self.sim = ChainSim(make_genesis(accounts=(*USERS, *RUNNERS), params=params or exec_params()))
        self.ids = {d["name"]: compute_service_id(d) for d in (HASHING, NOTARY, ECHO, MATH)}
        include(
            self.sim,
            [
                tx(self.sim, "dev", PublishService(d), nonce=i)
                for i, d in enumerate((HASHING, NOTARY, ECHO, MATH))
            ],
        )
        txs = []
        for name in runners:
            for i, service in enumerate(self.ids.values()):
                txs.append(tx(self.sim, name, RegisterRunner(service, STAKE, PRICE), nonce=i))  # type: ignore[arg-type]
        include(self.sim, txs)

    @property
    def state(self):  # type: ignore[no-untyped-def]
        return self.sim.state

    def request(
        self,
        service: str,
        task: str,
        inputs: dict[str, Any],
        *,
        sender: str = "alice",
        max_fee: int = PRICE,
        **kw: Any,
    ) -> str:
        action = RequestExecution(self.ids[service], task, inputs, max_fee, **kw)  # type: ignore[arg-type]
        request = tx(self.sim, sender, action)
        include(self.sim, [request])
        return request.id

    def submitted_sha256(self, data: str = "00", digest: str = "ok") -> str:
        """A ``hashing.sha256`` of ``data`` requested by alice, its runner's result ``digest``
        submitted (in the next block); the execution's id."""
        execution_id = self.request("hashing", "sha256", {"data": data})
        self.submit(execution_id, {"digest": digest})
        return execution_id

    def execution(self, execution_id: str):  # type: ignore[no-untyped-def]
        return executions(self.state).rows[execution_id]

    def submit(
        self, execution_id: str, outputs: dict[str, Any] | None = None, error: str | None = None
    ) -> None:
        runner = self.execution(execution_id).runner
        include(self.sim, [tx(self.sim, runner, SubmitResult(execution_id, outputs, error))])  # type: ignore[arg-type]

    def verdicts(self, execution_id: str, *, accept: int = 0, reject: int = 0) -> None:
        """``reject`` verifiers disagree, then ``accept`` verifiers agree, in one block (for
        reexecute tasks: a wrong result hash, then the submitted one)."""
        execution = self.execution(execution_id)
        external = execution.service == self.ids["notary"]
        voters = list(execution.verifiers)
        assert accept + reject <= len(voters)
        txs = []
        for i, verifier in enumerate(voters[: reject + accept]):
            agree = i >= reject
            if external:
                action = SubmitVerdict(execution_id, accept=agree)  # type: ignore[arg-type]
            else:
                wrong = hashlib.sha256(verifier.encode()).hexdigest()
                action = SubmitVerdict(execution_id, result_hash=execution.result_hash if agree else wrong)  # type: ignore[arg-type]
            txs.append(tx(self.sim, verifier, action))
        include(self.sim, txs)

    def balance(self, name: str) -> int:
        return int(self.state.accounts[name].balance)

    @property
    def runner_slash(self) -> int:
        """What a runner registered with ``STAKE`` loses when it is slashed."""
        return STAKE * self.state.params.runner_slash_bps // 10_000
