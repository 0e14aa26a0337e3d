"""One devnet run: set up, start, watch, stop, summarize (:class:`Devnet`, :func:`run_devnet`).

The chain starts once every member is on the pool's slot feed: the processes load first, then
the genesis is written a margin ahead, then the node, the pool service and the members are
waited for in turn. Every stop signal ends the run the same way: the members, then the pool
service, then the chain node.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import httpx
from rich.console import Console
from rich.live import Live
from sqlalchemy.engine import make_url

from bppool.devnet import processes, setup
from bppool.devnet.processes import Proc
from bppool.devnet.setup import POOL
from bppool.devnet.traffic import send_transfers
from bppool.devnet.view import LiveView, clock_time, print_summary, snapshot, summarize
from chain.client.http import NodeError
from chain.core import compute_slot_at
from producer_client import Client, PoolError
from service_shell.keys import KeyFile

GENESIS_MARGIN_S = 2.0  # from "every process loaded" to the genesis, on top of the loading time


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
    emitters: int = 1
    kill_emitter_at: int | None = None
    tx_rate: float = 20.0
    dac: bool = True
    dac_settings: dict[str, Any] = field(default_factory=dict)
    # Members the devnet makes an account, a key file and a founder's seat for, and whose
    # node builds for them, but does not run: a member of another implementation joins as one.
    external_members: list[str] = field(default_factory=list)
    console: Console = field(default_factory=Console)
    procs: dict[str, Proc] = field(default_factory=dict)
    keys: dict[str, KeyFile] = field(default_factory=dict)
    killed: str | None = None
    killed_at_slot: int | None = None
    killed_emitter: str | None = None
    killed_emitter_at_slot: int | None = None
    own_database: str | None = None  # the database the devnet made on the given server
    failed: str | None = None
    stopping: bool = False
    timings: dict[str, float] = field(default_factory=dict)

    # --- set-up ----------------------------------------------------------------------------

    def prepare(self) -> None:
        """Keys, genesis and configs in the data directory (and, on a PostgreSQL server, a
        database of the devnet's own)."""
        if self.emitters > 1 and not setup.is_postgres_url(self.database_url):
            raise SystemExit(
                "an emitter group shares one PostgreSQL database: give --database-url "
                "postgresql://USER@HOST:PORT/postgres (a server; the devnet makes its own database)"
            )
        self.root, self.own_dir = setup.make_root(self.data_dir)
        self.console.print(f"[bold]devnet[/] in {self.root} (logs in {self.root / 'logs'})")
        database_url = self.database_url
        if setup.is_postgres_url(database_url):
            with self.step("creating the pool's database on the PostgreSQL server"):
                self.own_database = database_url = setup.create_database(str(database_url))
            self.console.print(f"  pool database: {make_url(database_url).database}")
        self.member_names = setup.member_names(self.members)
        with self.step(f"generating keys for {len(self.everyone())} accounts"):
            self.keys.update(setup.generate_keys(self.root / "keys", self.everyone()))
        # Written by write_genesis once every process is loaded; the configs name it already.
        self.genesis_path = self.root / "genesis.json"
        node = setup.node_proc(self.root, self.genesis_path, builders=self.external_members)
        emitters = setup.emitter_procs(
            self.root,
            self.genesis_path,
            node.url,
            count=self.emitters,
            strategy=self.strategy,
            database_url=database_url,
            dac_table=self.dac_table(),
        )
        self.emitter_names = [p.name for p in emitters]
        self.node_url, self.emitter_urls = node.url, [p.url for p in emitters]
        self.emitter_url = self.emitter_urls[0]
        members = setup.member_procs(
            self.root, self.genesis_path, self.member_names, node.url, self.emitter_urls
        )
        self.procs.update({p.name: p for p in (node, *emitters, *members)})

    def everyone(self) -> list[str]:
        """Every account of the genesis."""
        return setup.accounts([*self.member_names, *self.external_members])

    def write_genesis(self, genesis_time_ms: int) -> None:
        """The genesis, starting the chain at ``genesis_time_ms``; written whole or not at all
        (the processes start as soon as the file exists)."""
        self.genesis = setup.devnet_genesis(genesis_time_ms, self.keys, self.everyone())
        setup.write_genesis(self.genesis_path, self.genesis)

    def dac_table(self) -> str:
        """The ``[extensions.dac]`` table of the pool service's config."""
        return setup.dac_table(
            enabled=self.dac,
            members=[*self.member_names, *self.external_members],
            strategy=self.strategy,
            overrides=self.dac_settings,
        )

    # --- processes -------------------------------------------------------------------------

    def start_process(self, proc: Proc) -> None:
        """Start ``proc``: it dies with the devnet, however the devnet ends, and waits for the
        genesis once loaded (see :func:`bppool.devnet.processes.start_process`)."""
        processes.start_process(proc, self.root, self.genesis_path)

    def stop_process(self, proc: Proc, timeout: float = 10.0) -> None:
        """Stop ``proc`` (SIGTERM, then SIGKILL after ``timeout``)."""
        processes.stop_processes([proc], timeout)

    def stop_all(self) -> None:
        """Stop every process: the members, then the pool service, then the chain."""
        self.stopping = True
        if not any(p.process is not None and not p.stopped for p in self.procs.values()):
            return
        with self.step("stopping the members, the pool service and the chain node"):
            processes.stop_processes([self.procs[n] for n in self.member_names])
            processes.stop_processes([self.procs[n] for n in self.emitter_names])
            self.stop_process(self.procs["node"])

    def check_processes(self) -> None:
        """Raise (and remember why in ``failed``) if a process exited without being stopped."""
        report = processes.exit_report(self.procs.values(), self.root / "logs")
        if report is not None:
            self.failed = report
            raise RuntimeError(report)

    async def wait_ready(self, url: str, what: str, timeout: float = 60) -> None:
        """Until the service at ``url`` is ready."""
        await processes.wait_ready(url, what, self.check_processes, timeout)

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

    # --- start -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the chain node, the pool service and the members, all loading at once; then
        set the genesis, so the chain starts once every member is on the pool's slot feed."""
        count = len(self.member_names)
        service = (
            "the pool service" if self.emitters == 1 else f"the pool service ({self.emitters} instances)"
        )
        loading = f"starting the chain node, {service} and {count} member{'s' * (count != 1)}"
        with self.step(loading):
            for proc in self.procs.values():
                self.start_process(proc)
            await processes.wait_loaded(self.procs.values(), self.root, self.check_processes)
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
        await self.join(genesis_ms)
        self.announce_external()

    def announce_external(self) -> None:
        """Where an external member finds what it needs: printed, and in ``external.json``."""
        if not self.external_members:
            return
        described: dict[str, Any] = {
            "chain_id": self.genesis.chain_id,
            "node_url": self.node_url,
            "emitter_urls": self.emitter_urls,
            "pool": POOL,
            "members": {n: str(self.root / "keys" / f"{n}.json") for n in self.external_members},
        }
        path = self.root / "external.json"
        partial = path.with_suffix(".partial")
        partial.write_text(json.dumps(described, indent=2))
        os.replace(partial, path)
        for name, key_file in described["members"].items():
            self.console.print(
                f"external member [b]{name}[/]: key file {key_file}, node {self.node_url} (builds for it), "
                f"pool service {' '.join(self.emitter_urls)}; all of it in {path}",
                soft_wrap=True,
            )

    async def join(self, genesis_ms: int) -> None:
        """Wait for the node, the pool service and the members, then for the genesis."""
        with self.step("waiting for the chain node"):
            await self.wait_ready(self.node_url, "the chain node")
        with self.step("waiting for the pool service"):
            for name, url in zip(self.emitter_names, self.emitter_urls, strict=True):
                await self.wait_ready(url, f"the pool service ({name})")
        with self.step("members joining the pool"):
            await self.admit_members()
        with self.step("waiting for the members to connect to the slot feed"):
            members = [self.procs[n] for n in self.member_names]
            await processes.wait_connected(members, self.check_processes)
        late_ms = time.time_ns() // 1_000_000 - genesis_ms
        if late_ms > 0:
            self.console.print(
                f"[yellow]the members were ready {late_ms / 1000:.1f} s after the genesis: "
                "the first pool slots may have fallen back[/]"
            )
        else:
            with self.step("waiting for the genesis"):
                await asyncio.sleep(-late_ms / 1000)

    async def admit_members(self) -> None:
        """Until every member has applied and is admitted (by the DAC, or here without one)."""
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

    # --- run -------------------------------------------------------------------------------

    async def traffic(self) -> None:
        """Transfers between the user accounts, so blocks carry transactions."""
        await send_transfers(self.node_url, self.genesis.chain_id, self.keys, self.tx_rate)

    async def run(self) -> dict[str, Any]:
        """Start everything, run until the slot count (or forever), return the summary."""
        started = time.monotonic()
        await self.start()
        self.print_urls()
        traffic = asyncio.create_task(self.traffic())
        try:
            snap = await self.watch(started)
        finally:
            self.console.print()  # the live view leaves its last line open
            traffic.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await traffic
        return await self.summary(snap)

    async def watch(self, started: float) -> dict[str, Any]:
        """The live view until the slot count (forever without one); the last snapshot."""
        view = LiveView(self.slots)
        snap: dict[str, Any] = {}
        async with httpx.AsyncClient(timeout=5) as http:
            with Live(console=self.console, refresh_per_second=4, transient=False) as live:
                while True:
                    self.check_processes()
                    with contextlib.suppress(httpx.HTTPError, KeyError, ValueError):
                        snap = await snapshot(http, self.node_url, self.live_emitter_urls(), dac=self.dac)
                        live.update(view.render(snap, started, self.killed))
                    done = len(snap.get("slots", []))
                    if (
                        self.kill_member_at is not None
                        and self.killed is None
                        and done >= self.kill_member_at
                    ):
                        self.kill_member(done)
                    if (
                        self.kill_emitter_at is not None
                        and self.killed_emitter is None
                        and done >= self.kill_emitter_at
                    ):
                        self.kill_leader(done, snap.get("group"))
                    if self.slots is not None and done >= self.slots:
                        return snap
                    await asyncio.sleep(0.25)

    def kill_member(self, done: int) -> None:
        """Stop the first member (``--kill-member-at``), ``done`` pool slots in."""
        self.killed = self.member_names[0]
        self.stop_process(self.procs[self.killed])
        # The slot in progress once it is gone: it can win none after it.
        self.killed_at_slot = compute_slot_at(
            self.genesis.genesis_time,
            self.genesis.params.slot_ms,
            int(time.time() * 1000),
        )
        self.console.log(f"killed member {self.killed} after {done} pool slots")

    def live_emitter_urls(self) -> list[str]:
        """The pool service's instances not killed, in order (reads go to the first that answers)."""
        return [
            url
            for name, url in zip(self.emitter_names, self.emitter_urls, strict=True)
            if not self.procs[name].stopped
        ]

    def kill_leader(self, done: int, group: dict[str, Any] | None) -> None:
        """kill -9 the emitter group's leader (``--kill-emitter-at``), ``done`` pool slots in:
        the others take over; its slot is the failover's to show."""
        leader = (group or {}).get("leader") or {}
        by_url = dict(zip(self.emitter_urls, self.emitter_names, strict=True))
        name = by_url.get(str(leader.get("url")), self.emitter_names[0])
        proc = self.procs[name]
        proc.stopped = True  # not a failure of the devnet
        if proc.process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.process.pid, signal.SIGKILL)
        self.killed_emitter = name
        self.killed_emitter_at_slot = compute_slot_at(
            self.genesis.genesis_time, self.genesis.params.slot_ms, int(time.time() * 1000)
        )
        self.console.log(f"killed (-9) the group's leader {name} after {done} pool slots")

    def print_urls(self) -> None:
        """Each process's ``/metrics`` and ``/docs`` URL."""
        for proc in self.procs.values():
            docs = f"  docs {proc.docs_url}" if proc.docs_url else ""
            self.console.print(f"  {proc.name:<10} metrics {proc.metrics_url}{docs}", soft_wrap=True)

    # --- end -------------------------------------------------------------------------------

    async def summary(self, snap: dict[str, Any]) -> dict[str, Any]:
        """The run's summary, also written to ``summary.json``."""
        run = {
            "data_dir": str(self.root),
            "node_url": self.node_url,
            "emitter_url": self.emitter_url,
            "emitter_urls": self.emitter_urls,
            "chain_id": self.genesis.chain_id,
            "killed": self.killed,
            "killed_at_slot": self.killed_at_slot,
            "killed_emitter": self.killed_emitter,
            "killed_emitter_at_slot": self.killed_emitter_at_slot,
            "startup_s": self.timings,
        }
        summary = summarize(snap, run)
        (self.root / "summary.json").write_text(json.dumps(summary, indent=2))
        return summary

    def print_summary(self, summary: dict[str, Any]) -> None:
        """The summary's figures, and where the data is (or that it was removed)."""
        kept = bool(self.keep_data or not self.own_dir or self.failed)
        print_summary(self.console, summary, kept=kept, root=self.root)

    def cleanup(self) -> None:
        """Remove the devnet's own temporary directory and database, unless kept or the run
        failed."""
        if self.keep_data or self.failed is not None:
            if self.own_database:
                self.console.print(f"database kept: {self.own_database}")
            return
        if self.own_dir:
            shutil.rmtree(self.root, ignore_errors=True)
        if self.own_database:
            try:
                setup.drop_database(self.own_database)
            except Exception as exc:  # the server went away: say so, do not fail the run
                self.console.print(f"[yellow]could not drop {self.own_database}: {exc}[/]")


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
