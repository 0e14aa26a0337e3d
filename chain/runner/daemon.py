"""The runner daemon: watch the node, run assigned executions, verify others' results.

Every ``poll_ms`` it asks the node for executions assigned to its account that await a
result, and for executions it must verify that await its verdict. Each runs in a worker
thread (at most ``concurrency`` at once); the result (or verdict) goes back as a signed
transaction. A transaction that did not make it on chain (the node dropped it) is sent again
after ``retry_after_ms``; a nonce gap left by a dropped transaction is filled so the ones after
it are not stuck.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from prometheus_client import CollectorRegistry, Gauge

from chain.client.http import AsyncNodeClient, NodeClient, NodeError
from chain.core import Transaction
from chain.core.containers import Action, Transfer
from chain.core.execution_actions import SubmitResult, SubmitVerdict
from chain.core.servicetypes import compute_result_hash
from chain.core.types import AccountName, Amount, Timestamp
from chain.runner.config import RunnerSettings
from chain.runner.registry import ServicePackage, TaskContext, TaskError, load_services
from service_shell.clock import Clock, SystemClock
from service_shell.keys import read_key_file
from service_shell.metrics import counter, histogram
from service_shell.supervisor import Supervisor

log = logging.getLogger("bppool.runner")
TX_LIFETIME_MS = 10 * 60 * 1000
TASK_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class RunnerMetrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry(auto_describe=True)
        self.executions = counter(
            r,
            "bppool_runner_executions",
            "Executions run, by service, task and result (outputs, error).",
            ["service", "task", "result"],
        )
        self.verdicts = counter(
            r,
            "bppool_runner_verdicts",
            "Verdicts given, by service, task and verdict.",
            ["service", "task", "verdict"],
        )
        self.task_seconds = histogram(
            r,
            "bppool_runner_task_seconds",
            "Time to run a task (or a check).",
            ["service", "task"],
            buckets=TASK_BUCKETS,
        )
        self.submit_failures = counter(
            r,
            "bppool_runner_submit_failures",
            "Results or verdicts the node refused, by reason.",
            ["reason"],
            known=("unreachable",),
        )
        self.inflight = Gauge("bppool_runner_inflight", "Tasks and checks running now.", registry=r)


class TxSender:
    """Signs and pushes the runner's transactions one at a time, counting nonces locally; the
    node's next nonce is read again after a refusal and at every poll."""

    def __init__(
        self, node: AsyncNodeClient, account: str, key: Any, chain_id: str, clock: Clock, fee: int
    ) -> None:
        self.node, self.account, self.key, self.chain_id, self.clock, self.fee = (
            node,
            account,
            key,
            chain_id,
            clock,
            fee,
        )
        self.lock = asyncio.Lock()
        self.next_nonce: int | None = None

    async def send(self, action: Action) -> str:
        async with self.lock:
            return await self._send(action)

    async def _send(self, action: Action) -> str:
        for attempt in range(3):
            if self.next_nonce is None:
                self.next_nonce = int((await self.node.get_account(self.account))["next_nonce"])
            tx = Transaction(
                chain_id=self.chain_id,  # type: ignore[arg-type]
                sender=AccountName(self.account),
                nonce=self.next_nonce,
                fee=Amount(self.fee),
                expiration=Timestamp(self.clock.now_ms() + TX_LIFETIME_MS),
                action=action,
            ).sign(self.key)
            try:
                await self.node.push_transaction(tx)
            except NodeError as exc:
                self.next_nonce = None
                if exc.code in ("nonce_mismatch", "duplicate_transaction") and attempt < 2:
                    continue  # our count was off (a transaction was dropped): ask the node
                raise
            self.next_nonce += 1
            return tx.id
        raise AssertionError("unreachable")

    async def fill_gap(self) -> None:
        """Resynchronise the nonce. When a pending transaction of ours was dropped (it failed
        in a block), its nonce blocks the later ones: send a 1-unit transfer to ourselves
        with that nonce."""
        async with self.lock:
            account = await self.node.get_account(self.account)
            self.next_nonce = int(account["next_nonce"])
            if account["next_nonce"] != account["nonce"] + account["pending_transactions"]:
                log.info("filling nonce gap at %d", account["next_nonce"])
                await self._send(Transfer(AccountName(self.account), Amount(1), "nonce gap filler"))


class RunnerDaemon:
    """One runner account serving some installed services."""

    def __init__(self, settings: RunnerSettings, *, clock: Clock | None = None) -> None:
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        keyfile = read_key_file(settings.key_file)
        self.account, self.key = keyfile.account, keyfile.key
        if not settings.services:
            raise LookupError("no service to run: give --service NAME (see bppool runner services)")
        self.packages: dict[str, ServicePackage] = {
            p.service_id: p for p in load_services(settings.services).values()
        }
        self.node = AsyncNodeClient(settings.node_url, timeout=10.0)
        self.sync_node = NodeClient(settings.node_url)
        self.metrics = RunnerMetrics()
        self.semaphore = asyncio.Semaphore(settings.concurrency)
        self.sent: dict[tuple[str, str], float] = {}  # (execution, "result"|"verdict") -> monotonic time sent
        self.running: set[tuple[str, str]] = set()
        self.chain_id = ""
        self.sender: TxSender | None = None
        # Every background task runs under it: logged, counted and restarted on failure.
        self.supervisor = Supervisor()
        self.supervisor.register(self.metrics.registry)
        self._loop: asyncio.AbstractEventLoop | None = None

    # --- life cycle ------------------------------------------------------------------------

    async def start(self) -> None:
        info = await self.node.get_info()
        self.chain_id = info["chain_id"]
        account = await self.node.get_account(self.account)
        if account["key"] != self.key.public_key:
            raise ValueError(f"the key file holds a key that is not {self.account}'s on this chain")
        self.sender = TxSender(
            self.node, self.account, self.key, self.chain_id, self.clock, self.settings.fee
        )
        self._loop = asyncio.get_running_loop()
        for service_id, package in self.packages.items():
            try:
                service = await self.node.service(service_id)
            except NodeError:
                log.warning(
                    "service %s (%s…) is not published: bppool runner publish %s",
                    package.name,
                    service_id[:16],
                    package.name,
                )
                continue
            if not any(r["account"] == self.account for r in service["runners"]):
                log.warning(
                    "%s is not a runner of %s yet: bppool runner register %s",
                    self.account,
                    package.name,
                    package.name,
                )

    async def stop(self) -> None:
        await self.supervisor.stop()
        await self.node.aclose()
        self.sync_node.close()

    async def run(self) -> None:
        """Poll for work until cancelled."""
        await self.start()
        log.info("runner %s serving %s", self.account, ", ".join(p.name for p in self.packages.values()))
        await self.supervisor.supervise("poll", self._poll_loop)

    async def _poll_loop(self) -> None:
        while True:
            try:
                await self.poll()
            except NodeError as exc:
                log.warning("node: %s", exc)
            await asyncio.sleep(self.settings.poll_ms / 1000)

    def _due(self, key: tuple[str, str]) -> bool:
        if key in self.running:
            return False
        sent = self.sent.get(key)
        return sent is None or (time.monotonic() - sent) * 1000 > self.settings.retry_after_ms

    async def poll(self) -> None:
        """One look for work: assigned executions and verifications waiting for us."""
        assert self.sender is not None
        assigned = await self.node.executions(runner=self.account, status="requested", limit=1000)
        for execution in assigned:
            key = (execution["id"], "result")
            if execution["service"] in self.packages and self._due(key):
                self.running.add(key)
                self.supervisor.spawn("execute", self.execute(execution))
        checking = await self.node.executions(verifier=self.account, status="in_progress", limit=1000)
        for execution in checking:
            key = (execution["id"], "verdict")
            voted = any(v["verifier"] == self.account for v in execution["verdicts"])
            if execution["service"] in self.packages and not voted and self._due(key):
                self.running.add(key)
                self.supervisor.spawn("verify", self.verify(execution))
        await self.sender.fill_gap()
        horizon = time.monotonic() - 600
        for key in [k for k, at in self.sent.items() if at < horizon]:
            del self.sent[key]

    # --- work ------------------------------------------------------------------------------

    def _context(self, execution: dict[str, Any]) -> TaskContext:
        return TaskContext(
            account=self.account,
            chain_id=self.chain_id,
            execution=execution,
            node=self.sync_node,
            send=self._send_from_thread,
            wait_for=self._wait_from_thread,
        )

    def _send_from_thread(self, action: Action) -> str:
        assert self._loop is not None and self.sender is not None
        return asyncio.run_coroutine_threadsafe(self.sender.send(action), self._loop).result(30)

    def _wait_from_thread(self, tx_id: str, timeout: float) -> int:
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(self.wait_for_tx(tx_id, timeout), self._loop).result(
            timeout + 5
        )

    async def wait_for_tx(self, tx_id: str, timeout: float) -> int:
        """The height of the block that included ``tx_id`` (polls recent blocks)."""
        start = max(1, int((await self.node.get_info())["head_block_num"]) - 2)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for block in await self.node.blocks(start, 100):
                if any(Transaction.from_dict(t).id == tx_id for t in block["transactions"]):
                    return int(block["header"]["height"])
                start = max(start, int(block["header"]["height"]) - 1)
            await asyncio.sleep(0.2)
        raise TaskError(f"transaction {tx_id[:16]}… was not included within {timeout:.0f} s")

    async def _run_task(
        self, package: ServicePackage, execution: dict[str, Any]
    ) -> tuple[dict[str, Any] | None, str | None]:
        task = package.tasks[execution["task"]]
        async with self.semaphore:
            started = time.perf_counter()
            self.metrics.inflight.inc()
            try:
                outputs = await asyncio.to_thread(task, dict(execution["inputs"]), self._context(execution))
                return outputs, None
            except TaskError as exc:
                return None, str(exc)[:512]
            finally:
                self.metrics.inflight.dec()
                elapsed = time.perf_counter() - started
                self.metrics.task_seconds.labels(package.name, execution["task"]).observe(elapsed)

    async def execute(self, execution: dict[str, Any]) -> None:
        key = (execution["id"], "result")
        package = self.packages[execution["service"]]
        try:
            outputs, error = await self._run_task(package, execution)
            if outputs is not None and self.settings.corrupt_results:
                outputs = corrupt(outputs)
            await self._submit(key, SubmitResult(execution["id"], outputs, error))
            self.metrics.executions.labels(
                package.name, execution["task"], "error" if error else "outputs"
            ).inc()
            log.info(
                "execution %s… %s.%s: %s",
                execution["id"][:12],
                package.name,
                execution["task"],
                f"error: {error}" if error else "result submitted",
            )
        except Exception:
            log.exception("execution %s… failed in the runner", execution["id"][:12])
        finally:
            self.running.discard(key)

    async def verify(self, execution: dict[str, Any]) -> None:
        key = (execution["id"], "verdict")
        package = self.packages[execution["service"]]
        task = execution["task"]
        try:
            if package.verification(task) == "external":
                async with self.semaphore:
                    started = time.perf_counter()
                    ok = await asyncio.to_thread(package.checks[task], execution, self._context(execution))
                self.metrics.task_seconds.labels(package.name, f"{task}:check").observe(
                    time.perf_counter() - started
                )
                action = SubmitVerdict(execution["id"], accept=bool(ok))
                verdict = "accept" if ok else "reject"
            else:
                outputs, error = await self._run_task(package, execution)
                result_hash = compute_result_hash(outputs, error)
                action = SubmitVerdict(execution["id"], result_hash=result_hash)
                verdict = "accept" if result_hash == execution["result_hash"] else "reject"
            await self._submit(key, action)
            self.metrics.verdicts.labels(package.name, task, verdict).inc()
            log.info("verdict on %s… %s.%s: %s", execution["id"][:12], package.name, task, verdict)
        except Exception:
            log.exception("verification of %s… failed in the runner", execution["id"][:12])
        finally:
            self.running.discard(key)

    async def _submit(self, key: tuple[str, str], action: Action) -> None:
        assert self.sender is not None
        try:
            await self.sender.send(action)
        except NodeError as exc:
            self.metrics.submit_failures.labels(exc.code or "unreachable").inc()
            if exc.status == 0:
                return  # the node is unreachable: try again at a later poll
            log.warning("the node refused our %s for %s…: %s", key[1], key[0][:12], exc)
        self.sent[key] = time.monotonic()


def corrupt(outputs: dict[str, Any]) -> dict[str, Any]:
    """Wrong outputs of the same types (fault injection)."""

    def wrong(value: Any) -> Any:
        if isinstance(value, bool):
            return not value
        if isinstance(value, int):
            return value + 1
        if isinstance(value, str):
            return value[::-1] + "00" if value else "00"
        if isinstance(value, list):
            return [*value, value[0]] if value else []
        return value

    return {k: wrong(v) for k, v in outputs.items()}
