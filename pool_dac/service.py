"""The DAC service: its parts put together, its life cycle and its periodic jobs.

It runs inside the pool service (see :mod:`pool_dac.extension`) and uses its host only
through :class:`pool_dac.host.PoolHost`. The parts: :mod:`pool_dac.governance` (constitution,
proposals, ballots), :mod:`pool_dac.arbitration` (disputes, rulings), :mod:`pool_dac.epochs`
(closing epochs, statements) and :mod:`pool_dac.payouts` (transfers exactly once). Periodic
jobs (APScheduler) advance proposals and execute the queued ones, close epochs once their
blocks are irreversible, and send and confirm payouts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path
from typing import Any

from apscheduler.events import EVENT_JOB_ERROR, JobExecutionEvent
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy.exc import IntegrityError

from chain.client.http import AsyncNodeClient
from pool_dac import crud
from pool_dac.arbitration import Arbitration
from pool_dac.config import DacSettings
from pool_dac.context import DacContext
from pool_dac.core.params import InvalidParameter, Parameters
from pool_dac.epochs import Epochs
from pool_dac.governance import Governance
from pool_dac.host import PoolHost
from pool_dac.metrics import DacMetrics
from pool_dac.payouts import Payouts
from service_shell.db import run_migrations

# The periodic jobs of one tick, by the names they are counted and reported under.
DAC_JOBS = ("dac_advance_proposals", "dac_close_due_epochs", "dac_process_transfers")
MIGRATIONS = Path(__file__).parent / "migrations"
VERSION_TABLE = "alembic_version_dac"


class Dac:
    """The DAC of one pool."""

    def __init__(self, host: PoolHost, settings: DacSettings) -> None:
        self.host = host
        self.settings = settings
        self.engine = host.engine
        self.ctx = DacContext(host, settings)
        self.node = AsyncNodeClient(host.node_url, timeout=10.0)
        self.scheduler: AsyncIOScheduler | None = None
        self._tick_lock = asyncio.Lock()
        self.metrics = DacMetrics(host.registry, host.engine)
        self.payouts = Payouts(self.ctx, self.node, self.metrics)
        self.governance = Governance(self.ctx, self.payouts)
        self.arbitration = Arbitration(self.ctx)
        self.epochs = Epochs(self.ctx, self.node, self.payouts, self.metrics)

    @property
    def params(self) -> Parameters:
        """The governed parameters in force."""
        return self.ctx.params

    @property
    def constitution_version(self) -> int:
        """The version of the constitution in force."""
        return self.ctx.constitution_version

    # --- life cycle ------------------------------------------------------------------------

    def open(self) -> None:
        """Migrate the DAC's tables; load the constitution and the parameters in force."""
        ctx, host = self.ctx, self.host
        run_migrations(self.engine, MIGRATIONS, VERSION_TABLE)
        if crud.latest_constitution(self.engine) is None:
            # Several instances of a group may start at once: the first one stores it.
            with contextlib.suppress(IntegrityError), self.engine.begin() as conn:
                crud.add_constitution(
                    conn,
                    text=host.constitution_text,
                    digest=host.constitution_hash,
                    now_ms=ctx.now(),
                    proposal_id=None,
                )
        self.reload()

    def reload(self) -> None:
        """Read the constitution and the parameters in force from the database (at start, and
        in a group whenever the leader changed them) and put them in force in the pool service."""
        ctx, host = self.ctx, self.host
        latest = crud.latest_constitution(self.engine)
        if latest is None:
            raise RuntimeError("the constitution could not be stored")
        ctx.constitution_version = int(latest["version"])
        host.service.set_constitution(latest["text"])
        try:
            stored = {**self.settings.bootstrap_parameters, **crud.parameters(self.engine)}
            ctx.params = Parameters.from_dict(stored)
        except InvalidParameter as exc:
            raise ValueError(f"DAC parameters: {exc}") from None
        host.service.adopt_parameters(ctx.params.strategy, ctx.params.fallback)

    async def start(self) -> None:
        """Open, then run the periodic jobs (unless the settings turn the scheduler off)."""
        await asyncio.to_thread(self.open)
        if self.settings.scheduler:
            logging.getLogger("apscheduler").setLevel(logging.WARNING)  # not a line per tick
            self.scheduler = AsyncIOScheduler()
            self.scheduler.add_job(
                self.tick,
                "interval",
                id="dac_tick",
                seconds=self.settings.tick_seconds,
                max_instances=1,
                coalesce=True,
            )
            self.scheduler.add_listener(self._job_error, EVENT_JOB_ERROR)
            for name in ("dac_tick", *DAC_JOBS):
                self.host.supervisor.declare(name)
            self.scheduler.start()

    async def stop(self) -> None:
        """Stop the jobs and close the node client."""
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=False)
        await self.node.aclose()

    def _job_error(self, event: JobExecutionEvent) -> None:
        """A scheduled run that raised (the jobs inside :meth:`tick` report their own)."""
        self.host.supervisor.job_failed(str(event.job_id), event.exception)

    async def tick(self) -> None:
        """One round of the periodic jobs (also called directly by tests and the API).

        A job that raises is logged, counted (``bppool_task_failures_total{task="dac_<job>"}``)
        and reported down until a later round of it succeeds; the other jobs still run.
        """
        supervisor = self.host.supervisor
        if not self.host.service.leads():
            return  # in a group, the lease holder runs the jobs (each is exactly-once in the database)
        async with self._tick_lock:
            jobs = (self.advance_proposals, self.close_due_epochs, self.process_transfers)
            for name, job in zip(DAC_JOBS, jobs, strict=True):
                try:
                    await job()
                except Exception as exc:
                    supervisor.job_failed(name, exc)
                else:
                    supervisor.job_succeeded(name)

    def on_application(self, account: str) -> None:
        """A member applied (the pool service calls it): keep its signature of the
        constitution; admit the founders without a vote."""
        member = self.host.members.get(account)
        if member is None:
            return
        self.governance.save_signature(
            account,
            self.ctx.constitution_version,
            member["constitution_hash"],
            member["application_signature"],
        )
        if account in self.settings.bootstrap_members and member["status"] == "applied":
            self.host.service.set_status(account, "admit", by="bootstrap")

    # --- members, constitution, proposals (pool_dac.governance) ----------------------------

    def is_active(self, account: str) -> bool:
        """Admitted, and signed the latest constitution."""
        return self.ctx.is_active(account)

    def active_members(self) -> list[str]:
        """The active members, by account name."""
        return self.ctx.active_members()

    def vote_weights(self) -> dict[str, int]:
        """Eligible voters and their weights."""
        return self.ctx.vote_weights()

    def constitution(self) -> dict[str, Any]:
        """The latest constitution with its signers."""
        return self.governance.constitution()

    def sign_constitution(self, requester: str, data: Any) -> dict[str, Any]:
        """Record a member's signature of the latest constitution."""
        return self.governance.sign_constitution(requester, data)

    def propose(self, proposer: str, data: Any) -> dict[str, Any]:
        """A new proposal of an active member."""
        return self.governance.propose(proposer, data)

    def proposal(self, proposal_id: int) -> dict[str, Any]:
        """A proposal with its state now, tally and ballots."""
        return self.governance.proposal(proposal_id)

    def vote(self, requester: str, proposal_id: int, data: Any) -> dict[str, Any]:
        """Count a member's signed ballot."""
        return self.governance.vote(requester, proposal_id, data)

    def cancel(self, requester: str, proposal_id: int) -> dict[str, Any]:
        """The proposer cancels its proposal."""
        return self.governance.cancel(requester, proposal_id)

    async def advance_proposals(self) -> None:
        """Queue what succeeded, execute what is due, refresh states."""
        await self.governance.advance_proposals()

    async def execute(self, proposal_id: int) -> dict[str, Any]:
        """Execute a Queued proposal whose timelock ended."""
        return await self.governance.execute(proposal_id)

    # --- disputes and rulings (pool_dac.arbitration) ---------------------------------------

    def file_dispute(self, filer: str, data: Any) -> dict[str, Any]:
        """An active member's dispute against another."""
        return self.arbitration.file_dispute(filer, data)

    def dispute(self, dispute_id: int) -> dict[str, Any]:
        """A dispute with its ruling."""
        return self.arbitration.dispute(dispute_id)

    def rule(self, dispute_id: int, data: Any) -> dict[str, Any]:
        """The arbitrator's signed ruling; it executes like a passed proposal (after the timelock)."""
        dispute, proposal_id = self.arbitration.rule(dispute_id, data)
        return {"dispute": dispute, "proposal": self.proposal(proposal_id)}

    # --- epochs and payouts (pool_dac.epochs, pool_dac.payouts) ----------------------------

    def next_epoch(self) -> tuple[int, int, int]:
        """``(epoch, start_slot, end_slot)`` of the next epoch to close."""
        return self.epochs.next_epoch()

    async def close_due_epochs(self) -> None:
        """Close every epoch whose last slot is irreversible."""
        await self.epochs.close_due_epochs()

    async def close_epoch(self, epoch: int, start: int, end: int) -> dict[str, Any]:
        """Close one epoch: statement and payouts, stored together."""
        return await self.epochs.close_epoch(epoch, start, end)

    def statement(self, epoch: int) -> dict[str, Any]:
        """A closed epoch's signed statement."""
        return self.epochs.statement(epoch)

    async def process_transfers(self) -> None:
        """Send, confirm and re-sign the pool account's transfers."""
        await self.payouts.process_transfers()

    def transfers_of_epoch(self, epoch: int) -> list[dict[str, Any]]:
        """An epoch's payouts."""
        return self.payouts.transfers_of_epoch(epoch)
