"""``bppool devnet``: a whole local pool on one machine, with no configuration.

As real processes on free loopback ports: one chain node producing for two solo producers,
the pool service (emitter) holding the pool producer's key, and N pool members with
different simulated latencies and a small failure rate. Keys are generated at run time
(mode 0600). Everyone is funded at genesis; members apply and are admitted. A small
generator sends transfers so blocks carry transactions. A live view shows each pool slot:
who delivered first and at what offset, misses, fallbacks, head and LIB, wins per member.

The pool's DAC runs inside the pool service: the members are its founders (admitted without a
vote), epochs are short (``DAC_EPOCH_SLOTS`` chain slots) so statements and payouts show up
within a minute, and votes are quick (``DAC_VOTING_S`` seconds, ``DAC_TIMELOCK_S`` timelock).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families
from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table

from bppool.devnet_child import child_command
from chain.client.http import AsyncNodeClient, NodeError
from chain.core import (
    ChainParams,
    Genesis,
    GenesisAccount,
    GenesisProducer,
    Transaction,
    compute_slot_at,
    format_amount,
)
from chain.core.containers import Transfer
from chain.core.types import AccountName, Amount, PublicKey, Timestamp
from producer_client import Client, PoolError
from service_shell.keys import KeyFile, generate_private_key, write_key_file

POOL = "pool"
SOLOS = ("soloa", "solob")
USERS = ("usera", "userb", "userc", "userd")
BALANCE = 1_000_000_0000
STAKE = 100_000_0000
DAC_EPOCH_SLOTS = 72
DAC_VOTING_S = 10
DAC_TIMELOCK_S = 2
GENESIS_MARGIN_S = 2.0  # from "every process loaded" to the genesis, on top of the loading time


def clock_time(ms: int) -> str:
    """``12:46:18 UTC`` for a time in milliseconds since the epoch."""
    return time.strftime("%H:%M:%S UTC", time.gmtime(ms / 1000))


def is_connected(metrics: str) -> bool:
    """Whether a member's ``/metrics`` text says it is subscribed to the slot feed."""
    for family in text_string_to_metric_families(metrics):
        if family.name == "bppool_producer_connected":
            return any(sample.value == 1 for sample in family.samples)
    return False


def member_names(count: int) -> list[str]:
    """``member1`` … ``member5``, ``member11`` …: account names allow digits 1-5 only."""
    names = []
    for i in range(1, count + 1):
        digits, n = "", i
        while n:
            n, r = divmod(n - 1, 5)
            digits = "12345"[r] + digits
        names.append(f"member{digits}")
    return names


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# What each kind of process imports before the genesis exists (see bppool.devnet_child): the
# modules of its command, found with ``python -X importtime``. One missing costs time only.
PRELOAD = ("bppool.cli", "httpcore", "uvicorn")
PRELOAD_NODE = (*PRELOAD, "chain.node.api", "chain.node.node", "service_shell.clitools")
PRELOAD_EMITTER = (
    *PRELOAD,
    "emitter.main",
    "emitter.service",
    "pool_dac.extension",
    "service_shell.clitools",
)
PRELOAD_MEMBER = (*PRELOAD, "producer_client.daemon", "service_shell.daemon", "starlette.applications")


@dataclass
class Proc:
    name: str
    args: list[str]
    url: str
    metrics_url: str
    docs_url: str | None
    preload: tuple[str, ...] = ()
    process: subprocess.Popen[bytes] | None = None
    stopped: bool = False


@dataclass
class Devnet:
    """One devnet run."""

    members: int = 5
    slots: int | None = None
    strategy: str = "first_delivered"
    database_url: str | None = None
    data_dir: Path | None = None
    keep_data: bool = False
    kill_member_at: int | None = None
    tx_rate: float = 20.0
    dac: bool = True
    dac_settings: dict[str, Any] = field(default_factory=dict)
    console: Console = field(default_factory=Console)
    procs: dict[str, Proc] = field(default_factory=dict)
    keys: dict[str, KeyFile] = field(default_factory=dict)
    killed: str | None = None
    killed_at_slot: int | None = None
    failed: str | None = None
    stopping: bool = False
    timings: dict[str, float] = field(default_factory=dict)

    # --- set-up ----------------------------------------------------------------------------

    def prepare(self) -> None:
        """Keys, genesis and configs in the data directory."""
        if self.data_dir is None:
            self.root = Path(tempfile.mkdtemp(prefix="bppool-devnet-"))
            self.own_dir = True
        else:
            self.root = self.data_dir.resolve()
            if self.root.exists() and any(self.root.iterdir()):
                raise SystemExit(f"{self.root} is not empty; give bppool devnet an empty --data-dir")
            self.root.mkdir(parents=True, exist_ok=True)
            self.own_dir = False
        (self.root / "logs").mkdir()
        (self.root / "run").mkdir()
        self.console.print(f"[bold]devnet[/] in {self.root} (logs in {self.root / 'logs'})")
        self.member_names = member_names(self.members)
        with self.step(f"generating keys for {len(self.everyone())} accounts"):
            for name in self.everyone():
                key = generate_private_key()
                write_key_file(self.root / "keys" / f"{name}.json", name, key)
                self.keys[name] = KeyFile(name, key)
        # Written by write_genesis once every process is loaded; the configs name it already.
        self.genesis_path = genesis_path = self.root / "genesis.json"
        node_port, emitter_port = free_port(), free_port()
        node_url, emitter_url = f"http://127.0.0.1:{node_port}", f"http://127.0.0.1:{emitter_port}"
        self.node_url, self.emitter_url = node_url, emitter_url
        (self.root / "node.toml").write_text(
            f'genesis = "{genesis_path}"\ndata_dir = "{self.root / "node"}"\nport = {node_port}\n'
            f"key_files = {json.dumps([str(self.root / 'keys' / f'{s}.json') for s in SOLOS])}\n"
            'log_level = "info"\n'
        )
        db = f'database_url = "{self.database_url}"\n' if self.database_url else ""
        (self.root / "emitter.toml").write_text(
            f'genesis = "{genesis_path}"\npool_key_file = "{self.root / "keys" / "pool.json"}"\n'
            f'node_urls = ["{node_url}"]\ndata_dir = "{self.root / "emitter"}"\nport = {emitter_port}\n'
            f'strategy = "{self.strategy}"\n{db}log_level = "info"\n\n{self.dac_table()}'
        )
        self.procs["node"] = Proc(
            "node",
            ["chain", "node", "--config", str(self.root / "node.toml")],
            node_url,
            f"{node_url}/metrics",
            f"{node_url}/docs",
            PRELOAD_NODE,
        )
        self.procs["emitter"] = Proc(
            "emitter",
            ["emitter", "serve", "--config", str(self.root / "emitter.toml")],
            emitter_url,
            f"{emitter_url}/metrics",
            f"{emitter_url}/docs",
            PRELOAD_EMITTER,
        )
        for i, name in enumerate(self.member_names):
            port = free_port()
            config = self.root / f"{name}.toml"
            # Overlapping latency profiles: the fastest member does not always win.
            config.write_text(
                f'key_file = "{self.root / "keys" / f"{name}.json"}"\ngenesis = "{genesis_path}"\n'
                f'emitter_url = "{emitter_url}"\nnode_url = "{node_url}"\nmetrics_port = {port}\n'
                f"delay_ms = {5 + 8 * i}\njitter_ms = 40\nfailure_rate = 0.05\n"
                f'endpoint = "devnet://{name}"\nlog_level = "info"\n'
            )
            self.procs[name] = Proc(
                name,
                ["producer", "run", "--config", str(config)],
                f"http://127.0.0.1:{port}",
                f"http://127.0.0.1:{port}/metrics",
                None,
                PRELOAD_MEMBER,
            )

    def everyone(self) -> list[str]:
        """Every account of the genesis."""
        return [POOL, *SOLOS, *self.member_names, *USERS]

    def write_genesis(self, genesis_time_ms: int) -> None:
        """The genesis, starting the chain at ``genesis_time_ms``; written whole or not at all
        (the processes start as soon as the file exists)."""
        self.genesis = Genesis(
            genesis_time=Timestamp(genesis_time_ms),
            accounts=tuple(
                GenesisAccount(AccountName(n), PublicKey(self.keys[n].public_key), Amount(BALANCE))
                for n in self.everyone()
            ),
            producers=tuple(GenesisProducer(AccountName(n), Amount(STAKE)) for n in (POOL, *SOLOS)),
            params=ChainParams(),
            network="bppool-devnet",
        )
        partial = self.genesis_path.with_suffix(".partial")
        partial.write_text(json.dumps(self.genesis.to_dict(), indent=2))
        os.replace(partial, self.genesis_path)

    def dac_table(self) -> str:
        """The ``[extensions.dac]`` table of the pool service's config."""
        settings: dict[str, Any] = {
            "enabled": self.dac,
            "bootstrap_members": self.member_names,
            "bootstrap_parameters": {
                "epoch_slots": DAC_EPOCH_SLOTS,
                "voting_period_s": DAC_VOTING_S,
                "timelock_s": DAC_TIMELOCK_S,
                "strategy": self.strategy,
                "arbitrator": POOL,
            },
            **self.dac_settings,
        }
        lines = ["[extensions.dac]"]
        lines += [f"{k} = {json.dumps(v)}" for k, v in settings.items() if not isinstance(v, dict | None)]
        for key, value in settings.items():
            if isinstance(value, dict):
                lines.append(f"[extensions.dac.{key}]")
                lines += [f"{k} = {json.dumps(v)}" for k, v in value.items()]
        return "\n".join(lines) + "\n"

    def start_process(self, proc: Proc) -> None:
        """Start ``proc`` through :mod:`bppool.devnet_child`: it dies with the devnet, however
        the devnet ends, and waits for the genesis once loaded."""
        log = open(self.root / "logs" / f"{proc.name}.log", "ab")  # noqa: SIM115 - owned by the child
        proc.process = subprocess.Popen(
            child_command(
                parent=os.getpid(),
                preload=proc.preload,
                loaded=self.loaded_marker(proc),
                genesis=self.genesis_path,
                args=proc.args,
            ),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches the devnet, which stops the children in order
        )
        log.close()

    def loaded_marker(self, proc: Proc) -> Path:
        return self.root / "run" / f"{proc.name}.loaded"

    def stop_process(self, proc: Proc, timeout: float = 10.0) -> None:
        self.stop_processes([proc], timeout)

    def stop_processes(self, procs: list[Proc], timeout: float = 10.0) -> None:
        """SIGTERM to each process group, SIGKILL to those still running after ``timeout``."""
        running = []
        for proc in procs:
            proc.stopped = True
            if proc.process is not None and proc.process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.process.pid, signal.SIGTERM)
                running.append(proc.process)
        deadline = time.monotonic() + timeout
        for process in running:
            try:
                process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(5)

    def stop_all(self) -> None:
        """Stop every process: the members, then the pool service, then the chain."""
        self.stopping = True
        if not any(p.process is not None and not p.stopped for p in self.procs.values()):
            return
        with self.step("stopping the members, the pool service and the chain node"):
            self.stop_processes([self.procs[n] for n in self.member_names])
            self.stop_process(self.procs["emitter"])
            self.stop_process(self.procs["node"])

    def check_processes(self) -> None:
        for proc in self.procs.values():
            if proc.process is not None and not proc.stopped and proc.process.poll() is not None:
                tail = (self.root / "logs" / f"{proc.name}.log").read_text(errors="replace")[-2000:]
                self.failed = f"{proc.name} exited with code {proc.process.returncode}:\n{tail}"
                raise RuntimeError(self.failed)

    # --- run -------------------------------------------------------------------------------

    async def wait_ready(self, url: str, what: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(timeout=2) as http:
            while time.monotonic() < deadline:
                self.check_processes()
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get(f"{url}/readyz")).status_code == 200:
                        return
                await asyncio.sleep(0.2)
        raise RuntimeError(f"{what} did not become ready in {timeout:.0f} s")

    async def admit_members(self) -> None:
        admin = Client(self.emitter_url, account=POOL, key=self.keys[POOL].key)
        pending = set(self.member_names)
        deadline = time.monotonic() + 60
        try:
            while pending and time.monotonic() < deadline:
                self.check_processes()
                listed = {m["account"]: m["status"] for m in (await admin.members())["members"]}
                for name in sorted(pending):
                    if listed.get(name) == "applied" and not self.dac:  # the DAC admits founders itself
                        await admin.admin_member(name, "admit")
                        pending.discard(name)
                    elif listed.get(name) == "active":
                        pending.discard(name)
                await asyncio.sleep(0.2)
        finally:
            await admin.aclose()
        if pending:
            raise RuntimeError(f"members never applied: {', '.join(sorted(pending))}")

    async def traffic(self) -> None:
        """Transfers between the user accounts, so blocks carry transactions."""
        node = AsyncNodeClient(self.node_url)
        nonces = dict.fromkeys(USERS, 0)
        rng = random.Random()
        try:
            while True:
                await asyncio.sleep(1 / self.tx_rate)
                sender, to = rng.sample(USERS, 2)
                tx = Transaction(
                    chain_id=self.genesis.chain_id,
                    sender=AccountName(sender),
                    nonce=nonces[sender],
                    fee=Amount(rng.randint(1, 100)),
                    expiration=Timestamp(int(time.time() * 1000) + 120_000),
                    action=Transfer(AccountName(to), Amount(rng.randint(1, 10_0000))),
                ).sign(self.keys[sender].key)
                try:
                    await node.push_transaction(tx)
                    nonces[sender] += 1
                except NodeError as exc:
                    if exc.code == "nonce_mismatch":
                        account = await node.get_account(sender)
                        nonces[sender] = account["nonce"] + account["pending_transactions"]
        finally:
            await node.aclose()

    async def snapshot(self, http: httpx.AsyncClient) -> dict[str, Any]:
        info = (await http.post(f"{self.node_url}/v1/chain/get_info", content=b"{}")).json()
        slots = (await http.get(f"{self.emitter_url}/v1/pool/slots", params={"limit": 1000})).json()["slots"]
        members = (await http.get(f"{self.emitter_url}/v1/pool/members")).json()["members"]
        latest = slots[0] if slots else None
        detail = None
        if latest is not None:
            detail = (await http.get(f"{self.emitter_url}/v1/pool/slots/{latest['slot']}")).json()
        dac = None
        if self.dac:
            with contextlib.suppress(httpx.HTTPError, KeyError, ValueError):
                response = await http.get(f"{self.emitter_url}/v1/dac/epochs", params={"limit": 1000})
                if response.status_code == 200:
                    dac = response.json()
        return {"info": info, "slots": slots, "members": members, "detail": detail, "dac": dac}

    def view(self, snap: dict[str, Any], started: float) -> Group:
        info, slots, members = snap["info"], snap["slots"], snap["members"]
        outcomes = {k: sum(1 for s in slots if s["verdict"] == k) for k in ("emitted", "fallback", "missed")}
        target = f"/{self.slots}" if self.slots else ""
        head = Table.grid(padding=(0, 2))
        head.add_row(
            f"slot [bold]{info['current_slot']}[/]",
            f"head [bold]{info['head_block_num']}[/] by {info['head_block_producer']}",
            f"LIB [bold]{info['last_irreversible_block_num']}[/]",
            f"pool slots [bold]{len(slots)}{target}[/]",
            f"emitted {outcomes['emitted']} · fallback {outcomes['fallback']} · missed {outcomes['missed']}",
            f"{time.monotonic() - started:.0f} s",
        )
        recent = Table(
            "pool slot", "outcome", "winner", "first delivery", "arrivals", title="recent pool slots"
        )
        firsts = self._first_deliveries(snap)
        for s in slots[:8]:
            extra = s.get("data", {})
            recent.add_row(
                str(s["slot"]),
                s["verdict"],
                s.get("member", "—"),
                firsts.get(s["slot"], ""),
                str(extra.get("arrivals", "")),
            )
        board = Table("member", "status", "wins", "valid", "rejected", "mean offset", title="members")
        for m in members:
            st = m["stats"]
            rejected = sum(st.get("rejections", {}).values())
            mark = " (killed)" if m["account"] == self.killed else ""
            board.add_row(
                m["account"] + mark,
                m["status"],
                str(st.get("wins", 0)),
                str(st.get("valid", 0)),
                str(rejected),
                f"{st.get('mean_valid_offset_ms') or '—'} ms",
            )
        parts: list[Any] = [Panel(head, title="bppool devnet"), recent, board]
        if snap.get("dac"):
            parts.append(self.dac_view(snap["dac"]))
        return Group(*parts)

    @staticmethod
    def dac_view(dac: dict[str, Any]) -> Table:
        epochs = dac["epochs"]
        following = dac["next"]
        table = Table(
            "epoch",
            "slots",
            "earnings",
            "treasury",
            "status",
            title=f"DAC epochs (next: {following['epoch']} closes after slot {following['end_slot']})",
        )
        for e in epochs[:4]:
            table.add_row(
                str(e["epoch"]),
                f"{e['start_slot']}-{e['end_slot'] - 1}",
                format_amount(e["earnings"]),
                format_amount(e["treasury"]),
                e["status"],
            )
        return table

    def _first_deliveries(self, snap: dict[str, Any]) -> dict[int, str]:
        detail = snap["detail"]
        if not detail or not detail.get("arrivals"):
            return self._firsts
        first = min(detail["arrivals"], key=lambda a: a.get("offset_ms", 1 << 30))
        self._firsts[detail["slot"]] = (
            f"{first['member']} at {first.get('offset_ms')} ms ({first['verdict']})"
        )
        return self._firsts

    @contextlib.contextmanager
    def step(self, text: str) -> Iterator[None]:
        """One step of the start or the stop: a spinner while it runs, then a line with its
        duration (kept in ``timings``)."""
        started = time.monotonic()
        with self.console.status(f"{text}…"):
            yield
        elapsed = time.monotonic() - started
        self.timings[text] = round(elapsed, 2)
        self.console.print(f"[green]✓[/] {text} [dim]({elapsed:.1f} s)[/]")

    async def wait_loaded(self, timeout: float = 600) -> None:
        """Until every process has imported its code and waits for the genesis."""
        deadline = time.monotonic() + timeout
        while not all(self.loaded_marker(p).exists() for p in self.procs.values()):
            self.check_processes()
            if time.monotonic() > deadline:
                raise RuntimeError(f"the processes did not load in {timeout:.0f} s")
            await asyncio.sleep(0.05)

    async def wait_connected(self, timeout: float = 60) -> None:
        """Until every member is subscribed to the pool's slot feed (its own gauge says so)."""
        pending = set(self.member_names)
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(timeout=2) as http:
            while pending:
                self.check_processes()
                if time.monotonic() > deadline:
                    raise RuntimeError(f"members not on the slot feed: {', '.join(sorted(pending))}")
                for name in sorted(pending):
                    with contextlib.suppress(httpx.HTTPError):
                        text = (await http.get(self.procs[name].metrics_url)).text
                        if is_connected(text):
                            pending.discard(name)
                await asyncio.sleep(0.1)

    async def start(self) -> None:
        """Start the chain node, the pool service and the members, all loading at once; then
        set the genesis, so the chain starts once every member is on the pool's slot feed."""
        count = len(self.member_names)
        loading = f"starting the chain node, the pool service and {count} member{'s' * (count != 1)}"
        with self.step(loading):
            for proc in self.procs.values():
                self.start_process(proc)
            await self.wait_loaded()
        # What is left of a start (databases, apps, sockets, joining, connecting) took from
        # half as long as the loading to nearly as long in measurements on a busy machine:
        # the margin is the loading time plus a constant.
        margin_ms = int(1000 * (GENESIS_MARGIN_S + self.timings[loading]))
        now_ms = time.time_ns() // 1_000_000
        genesis_ms = -(-(now_ms + margin_ms) // 1000) * 1000  # a whole second
        self.write_genesis(genesis_ms)
        self.console.print(
            f"[green]✓[/] genesis at {clock_time(genesis_ms)} (in {(genesis_ms - now_ms) / 1000:.0f} s)"
        )
        with self.step("waiting for the chain node"):
            await self.wait_ready(self.node_url, "the chain node")
        with self.step("waiting for the pool service"):
            await self.wait_ready(self.emitter_url, "the pool service")
        with self.step("members joining the pool"):
            await self.admit_members()
        with self.step("waiting for the members to connect to the slot feed"):
            await self.wait_connected()
        late_ms = time.time_ns() // 1_000_000 - genesis_ms
        if late_ms > 0:
            self.console.print(
                f"[yellow]the members were ready {late_ms / 1000:.1f} s after the genesis: "
                "the first pool slots may have fallen back[/]"
            )
        else:
            with self.step("waiting for the genesis"):
                await asyncio.sleep(-late_ms / 1000)

    async def run(self) -> dict[str, Any]:
        """Start everything, run until the slot count (or forever), return the summary."""
        self._firsts: dict[int, str] = {}
        started = time.monotonic()
        await self.start()
        self.print_urls()
        traffic = asyncio.create_task(self.traffic())
        snap: dict[str, Any] = {}
        try:
            async with httpx.AsyncClient(timeout=5) as http:
                with Live(console=self.console, refresh_per_second=4, transient=False) as live:
                    while True:
                        self.check_processes()
                        with contextlib.suppress(httpx.HTTPError, KeyError, ValueError):
                            snap = await self.snapshot(http)
                            live.update(self.view(snap, started))
                        done = len(snap.get("slots", []))
                        if (
                            self.kill_member_at is not None
                            and self.killed is None
                            and done >= self.kill_member_at
                        ):
                            self.killed = self.member_names[0]
                            self.stop_process(self.procs[self.killed])
                            # The slot in progress once it is gone: it can win none after it.
                            self.killed_at_slot = compute_slot_at(
                                self.genesis.genesis_time,
                                self.genesis.params.slot_ms,
                                int(time.time() * 1000),
                            )
                            self.console.log(f"killed member {self.killed} after {done} pool slots")
                        if self.slots is not None and done >= self.slots:
                            break
                        await asyncio.sleep(0.25)
        finally:
            self.console.print()  # the live view leaves its last line open
            traffic.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await traffic
        return await self.summary(snap)

    def print_urls(self) -> None:
        for proc in self.procs.values():
            docs = f"  docs {proc.docs_url}" if proc.docs_url else ""
            self.console.print(f"  {proc.name:<10} metrics {proc.metrics_url}{docs}", soft_wrap=True)

    async def summary(self, snap: dict[str, Any]) -> dict[str, Any]:
        slots = snap.get("slots", [])
        summary = {
            "data_dir": str(self.root),
            "node_url": self.node_url,
            "emitter_url": self.emitter_url,
            "chain_id": self.genesis.chain_id,
            "pool_slots": [
                {
                    "slot": s["slot"],
                    "outcome": s["verdict"],
                    "winner": s.get("member"),
                    "block_id": s.get("block_id"),
                }
                for s in sorted(slots, key=lambda s: s["slot"])
            ],
            "members": {m["account"]: m["stats"] for m in snap.get("members", [])},
            "killed": self.killed,
            "killed_at_slot": self.killed_at_slot,
            "dac_epochs": sorted((snap.get("dac") or {}).get("epochs", []), key=lambda e: e["epoch"]),
            "startup_s": self.timings,
            "head": snap.get("info", {}).get("head_block_num"),
            "lib": snap.get("info", {}).get("last_irreversible_block_num"),
        }
        (self.root / "summary.json").write_text(json.dumps(summary, indent=2))
        return summary

    def print_summary(self, summary: dict[str, Any]) -> None:
        slots = summary["pool_slots"]
        winners: dict[str, int] = {}
        for s in slots:
            if s["outcome"] == "emitted" and s["winner"]:
                winners[s["winner"]] = winners.get(s["winner"], 0) + 1
        counts = {k: sum(1 for s in slots if s["outcome"] == k) for k in ("emitted", "fallback", "missed")}
        self.console.print(
            f"[bold]{len(slots)}[/] pool slots: {counts['emitted']} emitted from members, "
            f"{counts['fallback']} by fallback, {counts['missed']} missed; "
            f"head {summary['head']}, LIB {summary['lib']}"
        )
        ranked = sorted(winners.items(), key=lambda kv: (-kv[1], kv[0]))
        self.console.print("blocks built per member: " + (", ".join(f"{m} {n}" for m, n in ranked) or "none"))
        epochs = summary.get("dac_epochs", [])
        if epochs:
            paid = sum(1 for e in epochs if e["status"] == "paid")
            earned = sum(e["earnings"] for e in epochs)
            self.console.print(
                f"DAC: {len(epochs)} epochs closed with signed statements ({paid} paid out), "
                f"earnings {format_amount(earned)}"
            )
        if self.keep_data or not self.own_dir or self.failed:
            self.console.print(f"summary: {self.root / 'summary.json'}; logs: {self.root / 'logs'}")
        else:
            self.console.print("data removed (keep it with --keep-data or --data-dir)")

    def cleanup(self) -> None:
        if self.own_dir and not self.keep_data and self.failed is None:
            shutil.rmtree(self.root, ignore_errors=True)


class Stopped(KeyboardInterrupt):
    """A stop signal (SIGINT, SIGTERM or SIGHUP). Raised like Ctrl-C's KeyboardInterrupt, so it
    unwinds the event loop and its tasks the same way, whichever signal came."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def handle_stop_signals(devnet: Devnet) -> None:
    """Make each stop signal stop the devnet cleanly, once; a signal that arrives while it is
    stopping is ignored, so the stop runs to its end. A signal the devnet was started with
    ignored stays ignored (SIGINT in a background job, SIGHUP under nohup): SIGTERM remains."""

    def stop(signum: int, frame: FrameType | None) -> None:
        if devnet.stopping:
            return
        devnet.stopping = True
        raise Stopped(signum)

    for signum in STOP_SIGNALS:
        if signal.getsignal(signum) is not signal.SIG_IGN:
            signal.signal(signum, stop)


def run_devnet(devnet: Devnet) -> int:
    """Run a devnet to completion, or until a stop signal; 0 on success. However it ends, its
    processes end with it (see :mod:`bppool.devnet_child` for when the devnet itself is killed)."""
    handle_stop_signals(devnet)
    code = 0
    summary: dict[str, Any] | None = None
    try:
        devnet.prepare()
        summary = asyncio.run(devnet.run())
    except KeyboardInterrupt as exc:
        signame = f" ({exc})" if isinstance(exc, Stopped) else ""
        devnet.console.print(f"[yellow]stopping the devnet{signame}[/]")
    except (RuntimeError, PoolError, NodeError) as exc:
        devnet.console.print(f"[red]devnet failed:[/] {exc}")
        devnet.failed = devnet.failed or str(exc)
        code = 1
    finally:
        devnet.stop_all()
    if summary is not None:
        devnet.print_summary(summary)
    elif code == 0:
        devnet.console.print(f"logs: {devnet.root / 'logs'}")
    if devnet.failed:
        devnet.console.print(f"data and logs kept in {devnet.root}")
    devnet.cleanup()
    return code


__all__ = ["Devnet", "format_amount", "member_names", "run_devnet"]
