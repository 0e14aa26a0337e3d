"""Benchmark: paid executions settled per second on a local node with four runner daemons.

Real processes on loopback: one chain node producing every 500 ms slot and four runner
daemons serving the ``hashing`` sample service (re-executed by three verifiers each). The
benchmark pushes N ``sha256`` requests at once and waits until every one has settled; it
prints the rate and where the time goes: waiting for the request's block, the runner's
turnaround (poll, run, submit, next block), the verification (verifiers poll, re-execute,
submit, next block), and the CPU the runners spent in the task itself.

Usage: ./dev bench executions [--requests 500] [--runners 4]
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

# Run as a script: the repository root, not this folder, comes first on the path.
sys.path[0] = str(Path(__file__).resolve().parents[1])

from bench._common import free_port, percentile  # noqa: E402
from chain.client.http import NodeClient  # noqa: E402
from chain.core import Transaction  # noqa: E402
from chain.core.containers import Action  # noqa: E402
from chain.core.execution_actions import PublishService, RegisterRunner, RequestExecution  # noqa: E402
from chain.runner.samples import HASHING  # noqa: E402
from service_shell.keys import read_key_file  # noqa: E402

BPPOOL = [sys.executable, "-m", "bppool"]
PRICE = 2000


def send(node: NodeClient, keys: Path, sender: str, action: Action, nonce: int | None = None) -> str:
    keyfile = read_key_file(keys / f"{sender}.json")
    info = node.get_info()
    if nonce is None:
        nonce = node.get_account(sender)["next_nonce"]
    tx = Transaction(
        chain_id=info["chain_id"],
        sender=sender,  # type: ignore[arg-type]
        nonce=nonce,
        fee=10,  # type: ignore[arg-type]
        expiration=int(time.time() * 1000) + 600_000,  # type: ignore[arg-type]
        action=action,
    ).sign(keyfile.key)
    node.push_transaction(tx)
    return tx.id


def wait(predicate, timeout: float, what: str):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except Exception:  # noqa: BLE001 - not up yet
            pass
        time.sleep(0.1)
    raise SystemExit(f"timed out waiting for {what}")


def metric_sum(text: str, name: str) -> float:
    return sum(float(m.group(1)) for m in re.finditer(rf"^{name}(?:{{[^}}]*}})? (\S+)$", text, re.M))


@dataclass
class Settled:
    """What a run saw: the executions settled and the figures around them."""

    pushed: float  # seconds to push every request
    elapsed: float  # seconds from the first push to the last settlement seen
    start_slot: int
    slot_ms: int
    records: dict[str, dict]
    pending: set[str]
    runner_metrics: list[str] = field(default_factory=list)
    node_metrics: str = ""


class Processes:
    """The node and runner daemons, each in its own session, logging into ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, args: list[str], log: str) -> None:
        out = open(self.root / f"{log}.log", "wb")  # noqa: SIM115 - owned by the child
        self.procs.append(
            subprocess.Popen([*BPPOOL, *args], stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        )

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)


def init_network(root: Path, port: int, runners: list[str]) -> None:
    """A one-producer network in ``root``: alpha, and ``user``, ``dev`` and the runners funded."""
    accounts = ",".join(("user", "dev", *runners))
    subprocess.run(
        [*BPPOOL, "chain", "init", "--dir", str(root), "--producers", "alpha", "--accounts", accounts]
        + ["--base-port", str(port), "--start-delay", "1"],
        check=True,
        capture_output=True,
    )


def publish_and_register(node: NodeClient, keys: Path, runners: list[str]) -> str:
    """``dev`` publishes the hashing service and every runner registers on it; its id."""
    send(node, keys, "dev", PublishService(HASHING.definition))
    wait(lambda: node.services(), 20, "the service")
    service = HASHING.service_id
    for runner in runners:
        send(node, keys, runner, RegisterRunner(service, 100_0000, PRICE))  # type: ignore[arg-type]
    wait(lambda: len(node.service(service)["runners"]) == len(runners), 20, "the runners")
    return service


def start_runners(procs: Processes, keys: Path, url: str, runners: list[str]) -> list[int]:
    """A runner daemon per runner serving ``hashing``; their metrics ports."""
    metrics_ports = []
    for runner in runners:
        mport = free_port()
        metrics_ports.append(mport)
        key = str(keys / f"{runner}.json")
        procs.start(
            ["runner", "run", "--key", key, "--node-url", url, "--service", "hashing"]
            + ["--metrics-port", str(mport)],
            runner,
        )
    return metrics_ports


def request_and_settle(node: NodeClient, keys: Path, service: str, requests: int) -> Settled:
    """Push ``requests`` sha256 requests at once and follow them until all settle (or time
    runs out)."""
    first_nonce = node.get_account("user")["next_nonce"]
    started = time.monotonic()
    start_slot = node.get_info()["current_slot"]
    ids = [
        send(
            node,
            keys,
            "user",
            RequestExecution(service, "sha256", {"data": f"{i:08x}"}, PRICE),
            first_nonce + i,
        )  # type: ignore[arg-type]
        for i in range(requests)
    ]
    pushed = time.monotonic() - started
    pending = set(ids)
    records: dict[str, dict] = {}
    deadline = time.monotonic() + 60 + requests * 0.5
    while pending and time.monotonic() < deadline:
        for e in node.executions(requester="user", limit=1000):
            if e["id"] in pending and e["status"] in ("completed", "failed", "expired"):
                pending.discard(e["id"])
                records[e["id"]] = e
        time.sleep(0.2)
    elapsed = time.monotonic() - started
    slot_ms = node.get_info()["slot_ms"]
    return Settled(pushed, elapsed, start_slot, slot_ms, records, pending)


def run(root: Path, args: argparse.Namespace, runners: list[str]) -> Settled:
    """Start the node and the runners, measure, and stop them all."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    init_network(root, port, runners)
    procs = Processes(root)
    try:
        procs.start(["chain", "node", "--config", str(root / "nodes" / "alpha.toml")], "node")
        node = NodeClient(url)
        wait(lambda: node.get_info()["head_block_num"] >= 1, 30, "the node")
        keys = root / "keys"
        service = publish_and_register(node, keys, runners)
        metrics_ports = start_runners(procs, keys, url, runners)
        time.sleep(2.0)  # let the daemons connect
        settled = request_and_settle(node, keys, service, args.requests)
        settled.runner_metrics = [
            NodeClient(f"http://127.0.0.1:{p}")._http.get("/metrics").text for p in metrics_ports
        ]
        settled.node_metrics = node._http.get("/metrics").text
        node.close()
        return settled
    finally:
        procs.stop()


def report(args: argparse.Namespace, settled: Settled) -> None:
    done = list(settled.records.values())
    statuses = {s: sum(1 for e in done if e["status"] == s) for s in ("completed", "failed", "expired")}
    print(
        f"{args.requests} sha256 executions requested (pushed in {settled.pushed:.2f} s), "
        f"{args.runners} runners, 3 verifiers each, {settled.slot_ms} ms slots"
    )
    print(
        f"settled {len(done)} in {settled.elapsed:.1f} s: {statuses}; "
        f"{len(done) / settled.elapsed:.1f} executions settled per second"
    )
    if settled.pending:
        print(f"NOT settled: {len(settled.pending)}")
    if not done:
        return
    report_stages(settled, done)
    per_slot = len(done) / max(1, (max(e["settled_slot"] for e in done) - settled.start_slot))
    print(f"settled per slot: {per_slot:.2f} (the pipeline is three blocks deep: request, result, verdicts)")


def report_stages(settled: Settled, done: list[dict]) -> None:
    """Where the time goes, from the block slots, and the CPU in the task and block apply."""
    slot_ms = settled.slot_ms
    waits = [(e["created_slot"] - settled.start_slot) * slot_ms for e in done]
    turnaround = [(e["result_slot"] - e["created_slot"]) * slot_ms for e in done if e["result_slot"]]
    verify = [(e["settled_slot"] - e["result_slot"]) * slot_ms for e in done if e["result_slot"]]
    print("where the time goes (ms, from block slots: median / p90 / max):")
    for name, values in (
        ("request to its block", waits),
        ("runner turnaround", turnaround),
        ("verification", verify),
    ):
        if values:
            print(
                f"  {name:<22} {statistics.median(values):7.0f} "
                f"{percentile(values, 0.9):7.0f} {max(values):7.0f}"
            )
    task_total = sum(metric_sum(m, "bppool_runner_task_seconds_sum") for m in settled.runner_metrics)
    task_count = sum(metric_sum(m, "bppool_runner_task_seconds_count") for m in settled.runner_metrics)
    apply_total = metric_sum(settled.node_metrics, "bppool_chain_block_apply_seconds_sum")
    apply_count = metric_sum(settled.node_metrics, "bppool_chain_block_apply_seconds_count")
    if task_count:
        print(
            f"  runners in the task itself: {task_count:.0f} runs, "
            f"{task_total / task_count * 1000:.2f} ms each "
            f"({task_total:.2f} s in all)"
        )
    if apply_count:
        print(f"  node block apply: {apply_count:.0f} blocks, {apply_total / apply_count * 1000:.2f} ms each")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--runners", type=int, default=4)
    args = parser.parse_args()
    runners = [f"run{'abcdefghijklmnop'[i]}" for i in range(args.runners)]
    with tempfile.TemporaryDirectory(prefix="bppool-bench-exec-") as tmp:
        settled = run(Path(tmp), args, runners)
    report(args, settled)


if __name__ == "__main__":
    main()
