"""Paid executions end to end: a node and four runner daemons as real processes.

A request completes, is verified and paid; a runner that returns a wrong result is out-voted,
slashed, and the user refunded; a process chains two tasks; a runner that is down lets its
execution expire with a refund.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from chain.client.http import NodeClient
from chain.core import Transaction
from chain.core.containers import Action
from chain.core.execution_actions import CreateProcess, RegisterRunner, RequestExecution
from chain.runner.samples import HASHING, MATH, NOTARY, notary_memo
from service_shell.keys import read_key_file
from tests.helpers.procs import BPPOOL, Processes, free_port_block, init_chain, wait_for

pytestmark = pytest.mark.e2e

RUNNERS = ("runa", "runb", "runc", "rund")
STAKE, PRICE = 100_0000, 2000
TIMEOUT_SLOTS = 16


class Chain:
    def __init__(self, url: str, keys: Path) -> None:
        self.node = NodeClient(url)
        self.keys = keys
        self.url = url

    def send(self, sender: str, action: Action) -> str:
        keyfile = read_key_file(self.keys / f"{sender}.json")
        info = self.node.get_info()
        account = self.node.get_account(sender)
        tx = Transaction(
            chain_id=info["chain_id"],
            sender=sender,  # type: ignore[arg-type]
            nonce=account["next_nonce"],
            fee=10,  # type: ignore[arg-type]
            expiration=info["genesis_time"] + info["current_slot"] * info["slot_ms"] + 600_000,  # type: ignore[arg-type]
            action=action,
        ).sign(keyfile.key)
        self.node.push_transaction(tx)
        return tx.id

    def included(self, tx_id: str) -> bool:
        return any(e["id"] == tx_id for e in self.node.executions(limit=1000))

    def execution(self, execution_id: str) -> dict[str, Any]:
        return self.node.execution(execution_id)

    def settled(self, execution_id: str) -> dict[str, Any] | None:
        e = self.execution(execution_id)
        return e if e["status"] in ("completed", "failed", "expired") else None

    def balance(self, name: str) -> int:
        return int(self.node.get_account(name)["balance_units"])

    def stake(self, service: str, runner: str) -> int:
        return next(r["stake"] for r in self.node.service(service)["runners"] if r["account"] == runner)


def test_executions_with_four_runner_daemons(tmp_path: Path, procs: Processes) -> None:
    port = free_port_block(1)
    url = f"http://127.0.0.1:{port}"
    net = tmp_path / "net"
    init_chain(
        net,
        port,
        producers="alpha",
        accounts=",".join(("alice", "dev", *RUNNERS)),
        start_delay=1,
        execution_timeout_slots=TIMEOUT_SLOTS,
        verification_timeout_slots=TIMEOUT_SLOTS,
    )
    procs.start("node", ["chain", "node", "--config", str(net / "nodes" / "alpha.toml")])
    chain = Chain(url, net / "keys")
    try:
        scenario(chain, net, url, procs)
    finally:
        chain.node.close()


def scenario(chain: Chain, net: Path, url: str, procs: Processes) -> None:
    wait_for(lambda: chain.node.get_info()["head_block_num"] >= 2, 30, "the node to produce")
    hashing, math = HASHING.service_id, MATH.service_id

    # The developer publishes two sample services with the CLI; the runners stake on both.
    for name in ("hashing", "math", "notary"):
        subprocess.run(
            [*BPPOOL, "runner", "publish", name, "--key", str(net / "keys" / "dev.json"), "--url", url],
            check=True,
            capture_output=True,
        )
    wait_for(lambda: len(chain.node.services()) == 3, 20, "the services on chain")
    for runner in RUNNERS:
        chain.send(runner, RegisterRunner(hashing, STAKE, PRICE))  # type: ignore[arg-type]
        chain.send(runner, RegisterRunner(NOTARY.service_id, STAKE, PRICE))  # type: ignore[arg-type]
        # The faulty runner asks more for math, so the process (max fee PRICE) never draws it.
        chain.send(runner, RegisterRunner(math, STAKE, PRICE + 1000 if runner == "rund" else PRICE))  # type: ignore[arg-type]
    wait_for(lambda: len(chain.node.service(math)["runners"]) == 4, 20, "four runners on each service")
    for runner in RUNNERS:
        args = [
            "runner",
            "run",
            "--key",
            str(net / "keys" / f"{runner}.json"),
            "--node-url",
            url,
            "--service",
            "hashing",
            "--service",
            "math",
            "--service",
            "notary",
        ]
        procs.start(runner, [*args, "--corrupt-results"] if runner == "rund" else args)

    # 1. A request completes, is verified by a majority and paid (the CLI waits for it).
    before = {n: chain.balance(n) for n in ("alice", "dev")}
    done = subprocess.run(
        [
            *BPPOOL,
            "runner",
            "request",
            "hashing",
            "sha256",
            "--input",
            "data=c0ffee",
            "--max-fee",
            "0.5 BPT",
            "--runner",
            "runa",
            "--key",
            str(net / "keys" / "alice.json"),
            "--url",
            url,
            "--timeout",
            "60",
        ],
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "completed" in done.stdout and "accepted by" in done.stdout
    assert '"digest"' in done.stdout
    executed = list(chain.node.executions(runner="runa", status="completed"))
    assert len(executed) == 1
    first = executed[0]
    import hashlib

    assert first["outputs"] == {"digest": hashlib.sha256(bytes.fromhex("c0ffee")).hexdigest()}
    assert first["fee"] == PRICE and len(first["verifiers"]) == 3
    assert chain.balance("alice") == before["alice"] - PRICE - 10
    assert chain.balance("dev") == before["dev"] + PRICE // 10

    # 1b. An external task: the runner writes a record on chain, the verifiers find it there.
    notarized = chain.send(
        "alice", RequestExecution(NOTARY.service_id, "notarize", {"text": "hello"}, PRICE, runner="runa")
    )  # type: ignore[arg-type]
    record = wait_for(lambda: chain.settled(notarized), 40, "the notarization to settle")
    assert record["status"] == "completed" and record["outcome"].startswith("accepted by"), record
    block = chain.node.get_block(record["outputs"]["block"])
    memos = [t["action"].get("memo") for t in block["transactions"] if t["sender"] == "runa"]
    assert notary_memo("hello") in memos

    # 2. A runner returning a wrong result is out-voted and slashed; the user is refunded.
    before_alice = chain.balance("alice")
    wrong = chain.send("alice", RequestExecution(math, "factorize", {"n": 360}, PRICE + 1000, runner="rund"))  # type: ignore[arg-type]
    lost = wait_for(lambda: chain.settled(wrong), 40, "the wrong result to be out-voted")
    assert lost["status"] == "failed" and lost["outcome"].startswith("rejected by"), lost
    assert "runner slashed" in lost["outcome"]
    assert chain.stake(math, "rund") == STAKE - STAKE // 10
    assert chain.balance("alice") == before_alice - 10  # the fee came back; only the tx fee is gone

    # 3. A process chains two tasks (factorize, then sum the factors), paid from its balance.
    rules = ((math, "factorize", math, "sum", (("values", "factors"),)),)
    process_id = chain.send("alice", CreateProcess(rules, 10 * PRICE, PRICE))  # type: ignore[arg-type]
    wait_for(lambda: chain.node.process(process_id), 20, "the process on chain")
    start = chain.send(
        "alice", RequestExecution(math, "factorize", {"n": 84}, PRICE, runner="runb", process=process_id)
    )  # type: ignore[arg-type]
    wait_for(lambda: chain.settled(start), 40, "the first task of the process")
    assert chain.execution(start)["outputs"] == {"factors": [2, 2, 3, 7]}

    def follow_up() -> dict[str, Any] | None:
        found = [e for e in chain.node.executions(process=process_id) if e["parent"] == start]
        return found[0] if found and found[0]["status"] == "completed" else None

    second = wait_for(follow_up, 40, "the follow-up task to complete")
    assert second["task"] == "sum" and second["inputs"] == {"values": [2, 2, 3, 7]}
    assert second["outputs"] == {"total": 14}
    process = chain.node.process(process_id)
    assert process["executions"] == 2 and process["balance"] == 8 * PRICE and process["status"] == "active"

    # 4. A runner that is down: its execution expires, it is slashed and the user refunded.
    procs.stop("runc")
    before_alice = chain.balance("alice")
    stalled = chain.send("alice", RequestExecution(hashing, "sha256", {"data": "00"}, PRICE, runner="runc"))  # type: ignore[arg-type]
    expired = wait_for(lambda: chain.settled(stalled), 40, "the execution to expire")
    assert expired["status"] == "expired" and "no result by slot" in expired["outcome"]
    assert chain.stake(hashing, "runc") == STAKE - STAKE // 10
    assert chain.balance("alice") == before_alice - 10

    # The daemons exposed no errors worth a traceback.
    time.sleep(0.5)
    for runner in ("runa", "runb"):
        assert "Traceback" not in procs.log(runner), procs.log(runner)[-3000:]
