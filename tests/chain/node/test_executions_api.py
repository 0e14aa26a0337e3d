"""``/v1/executions/*`` against the real node app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from chain.core.execution_actions import PublishService, RegisterRunner, RequestExecution, SubmitResult
from chain.core.servicetypes import compute_service_id
from tests.chain.node.conftest import NodeHarness, running_harness
from tests.helpers.executions import HASHING, exec_params
from tests.helpers.node import make_network, signed_tx

pytestmark = pytest.mark.anyio
RUNNERS = ("runa", "runb")


@pytest.fixture
async def h(tmp_path: Path) -> AsyncIterator[NodeHarness]:
    network = make_network(tmp_path / "net", accounts=("alice", "dev", *RUNNERS), params=exec_params())
    async with running_harness(network, tmp_path / "node") as harness:
        yield harness


async def push(h: NodeHarness, sender: str, action, nonce: int = 0) -> str:  # type: ignore[no-untyped-def]
    tx = signed_tx(h.network.genesis, sender, action, nonce=nonce)
    r = await h.client.post("/v1/chain/push_transaction", json=tx.to_dict())
    assert r.status_code == 202, r.text
    return tx.id


async def request_hashing(h: NodeHarness) -> tuple[str, str]:
    """``dev`` publishes the hashing service (slot 1), both runners register on it (slot 2)
    and ``alice`` requests a sha256 (slot 3); the service's and the execution's ids."""
    service_id = compute_service_id(HASHING)
    await push(h, "dev", PublishService(HASHING))
    await h.produce(1)
    for runner in RUNNERS:
        await push(h, runner, RegisterRunner(service_id, 100_0000, 10_0000))  # type: ignore[arg-type]
    await h.produce(2)
    execution_id = await push(h, "alice", RequestExecution(service_id, "sha256", {"data": "ff"}, 10_0000))  # type: ignore[arg-type]
    await h.produce(3)
    return service_id, execution_id


async def test_services_runners_and_executions_are_readable(h: NodeHarness) -> None:
    service_id, execution_id = await request_hashing(h)

    services = (await h.client.get("/v1/executions/services")).json()["services"]
    assert [s["id"] for s in services] == [service_id] and services[0]["runners"] == list(RUNNERS)
    detail = (await h.client.get(f"/v1/executions/services/{service_id}")).json()
    assert detail["definition"] == HASHING and detail["developer"] == "dev"
    assert [r["account"] for r in detail["runners"]] == list(RUNNERS) and detail["runners"][0][
        "stake"
    ] == 100_0000
    runners = (await h.client.get("/v1/executions/runners", params={"account": "runb"})).json()["runners"]
    assert len(runners) == 1 and runners[0]["service"] == service_id

    execution = (await h.client.get(f"/v1/executions/executions/{execution_id}")).json()
    assert execution["status"] == "requested" and execution["inputs"] == {"data": "ff"}
    assert execution["outputs"] is None and execution["fee"] == 10_0000
    runner, verifier = execution["runner"], execution["verifiers"][0]
    assigned = (
        await h.client.get("/v1/executions/executions", params={"runner": runner, "status": "requested"})
    ).json()
    assert [e["id"] for e in assigned["executions"]] == [execution_id]
    none = (
        await h.client.get("/v1/executions/executions", params={"runner": verifier, "status": "requested"})
    ).json()
    assert none["executions"] == []

    await push(h, runner, SubmitResult(execution_id, {"digest": "x"}), nonce=1)  # type: ignore[arg-type]
    await h.produce(4)
    checking = (
        await h.client.get(
            "/v1/executions/executions", params={"verifier": verifier, "status": "in_progress"}
        )
    ).json()
    assert (
        checking["executions"][0]["outputs"] == {"digest": "x"}
        and checking["executions"][0]["verdicts"] == []
    )


async def test_bad_queries_get_a_4xx_naming_the_problem(h: NodeHarness) -> None:
    r = await h.client.get("/v1/executions/executions", params={"status": "done"})
    assert r.status_code == 400 and "status: one of" in r.json()["error"]["message"]
    r = await h.client.get("/v1/executions/executions", params={"runner": "Bad Name"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_name"
    r = await h.client.get("/v1/executions/executions", params={"limit": 0})
    assert r.status_code == 400 and "limit" in r.json()["error"]["message"]
    r = await h.client.get("/v1/executions/executions/xyz")
    assert r.status_code == 400 and "64 lowercase hex" in r.json()["error"]["message"]
    r = await h.client.get("/v1/executions/executions/" + "ab" * 32)
    assert r.status_code == 404 and r.json()["error"]["code"] == "unknown_execution"
    r = await h.client.get("/v1/executions/services/" + "ab" * 32)
    assert r.status_code == 404 and r.json()["error"]["code"] == "unknown_service"
    r = await h.client.get("/v1/executions/processes/" + "ab" * 32)
    assert r.status_code == 404 and r.json()["error"]["code"] == "unknown_process"
    # A request the chain cannot serve is refused at the door, not stored
    tx = signed_tx(
        h.network.genesis, "alice", RequestExecution(compute_service_id(HASHING), "sha256", {"data": "ff"}, 1)
    )  # type: ignore[arg-type]
    r = await h.client.post("/v1/chain/push_transaction", json=tx.to_dict())
    assert r.status_code == 400 and r.json()["error"]["code"] == "unknown_service"
    assert len(h.node.mempool) == 0


async def test_open_executions_are_in_the_node_metrics(h: NodeHarness) -> None:
    await request_hashing(h)
    text = (await h.client.get("/metrics")).text
    assert 'bppool_chain_executions_open{state="requested"} 1.0' in text
    assert 'bppool_chain_executions_open{state="in_progress"} 0.0' in text
    assert "bppool_chain_runners 2.0" in text
