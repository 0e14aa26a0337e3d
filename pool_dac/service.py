"""The DAC service: governance, arbitration, epochs, statements and payouts.

It runs inside the pool service (see :mod:`pool_dac.extension`) and uses its host only
through :class:`pool_dac.host.PoolHost`. Periodic jobs (APScheduler) advance proposals and
execute the queued ones, close epochs once their blocks are irreversible, and send and
confirm payouts.

Payouts are exactly once: an epoch's statement, its rows and every payout transaction
(signed, with its nonce) are stored in one database transaction before anything is sent.
After a crash the same signed transactions are sent again; the chain accepts each nonce of
the pool account only once, so no member is ever paid twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
from pathlib import Path
from typing import Any

import orjson
from apscheduler.events import EVENT_JOB_ERROR, JobExecutionEvent
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from prometheus_client import Counter, Gauge
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from chain.client.http import AsyncNodeClient, NodeError
from chain.core.errors import MalformedInput
from chain.core.transition import compute_producer_income
from chain.core.types import is_valid_account_name
from pool_dac import crud
from pool_dac.chainread import fetch_blocks
from pool_dac.config import DacSettings
from pool_dac.core.errors import (
    BadSignature,
    DacError,
    InvalidDispute,
    InvalidProposal,
    NotAMember,
    NotArbitrator,
    NotEligible,
    StaleMessage,
    UnknownDispute,
)
from pool_dac.core.governance import (
    KINDS,
    QUEUED,
    STATES,
    SUCCEEDED,
    ProposalClock,
    Tally,
    check_ballot_window,
    check_cancelable,
    check_executable,
    check_replacement,
    compute_state,
    compute_tally,
)
from pool_dac.core.params import InvalidParameter, Parameters, check_parameter
from pool_dac.epochs import payout_rows, settle_epoch, store_epoch, transfer_row
from pool_dac.host import PoolHost
from pool_protocol.messages import MAX_FUTURE_MS, Ballot, ConstitutionSignature, Ruling
from service_shell.db import run_migrations
from service_shell.web import INT64_MAX, ApiError

# The periodic jobs of one tick, by the names they are counted and reported under.
DAC_JOBS = ("dac_advance_proposals", "dac_close_due_epochs", "dac_process_transfers")
log = logging.getLogger("bppool.dac")

MIGRATIONS = Path(__file__).parent / "migrations"
VERSION_TABLE = "alembic_version_dac"
PAYOUT_LIFETIME_MS = 50 * 60 * 1000
MAX_CONSTITUTION = 64 * 1024
MAX_EVIDENCE = 100  # event ids a dispute may cite
FINAL_STATES = ("Defeated", "Executed", "Canceled", "Expired")


class DacCollector(Collector):
    def __init__(self, dac: Dac) -> None:
        self.dac = dac

    def collect(self) -> Any:
        proposals = GaugeMetricFamily("bppool_dac_proposals", "Proposals by state.", labels=["state"])
        counts = dict.fromkeys(STATES, 0)
        with contextlib.suppress(Exception):
            counts.update(crud.count_proposals_by_state(self.dac.host.engine))
        for state, n in sorted(counts.items()):
            proposals.add_metric([state], n)
        yield proposals
        treasury = GaugeMetricFamily("bppool_dac_treasury_balance", "Treasury balance (smallest units).")
        with contextlib.suppress(Exception):
            treasury.add_metric([], crud.treasury(self.dac.host.engine)["balance"])
        yield treasury
        paid = CounterMetricFamily(
            "bppool_dac_paid", "Payouts confirmed on chain, by member (smallest units).", labels=["member"]
        )
        with contextlib.suppress(Exception):
            for member, total in sorted(crud.paid_by_member(self.dac.host.engine).items()):
                paid.add_metric([member], total)
        yield paid


class DacMetrics:
    def __init__(self, dac: Dac) -> None:
        registry = dac.host.metrics.registry
        self.epoch_earnings = Gauge(
            "bppool_dac_epoch_earnings",
            "Earnings of the last closed epoch (smallest units).",
            registry=registry,
        )
        self.epochs_closed = Counter(
            "bppool_dac_epochs_closed", "Epochs closed with a statement.", registry=registry
        )
        self.payout_failures = Counter(
            "bppool_dac_payout_failures", "Payout or spend transactions the node refused.", registry=registry
        )
        self.transfers_pending = Gauge(
            "bppool_dac_transfers_pending",
            "Payouts and spends not yet confirmed on chain.",
            registry=registry,
        )
        registry.register(DacCollector(dac))


class Dac:
    """The DAC of one pool."""

    def __init__(self, host: PoolHost, settings: DacSettings) -> None:
        self.host = host
        self.settings = settings
        self.engine = host.engine
        self.params = Parameters()
        self.constitution_version = 1
        self.node = AsyncNodeClient(host.settings.node_urls[0], timeout=10.0)
        self.scheduler: AsyncIOScheduler | None = None
        self._tick_lock = asyncio.Lock()
        self._sent = 0
        self.metrics = DacMetrics(self)
        host.extensions.append(self)
        host.application_hooks.append(self._on_application)
        host.admission_by_vote = True

    # --- life cycle ------------------------------------------------------------------------

    def open(self) -> None:
        run_migrations(self.engine, MIGRATIONS, VERSION_TABLE)
        latest = crud.latest_constitution(self.engine)
        if latest is None:
            with self.engine.begin() as conn:
                crud.add_constitution(
                    conn,
                    text=self.host.constitution_text,
                    digest=self.host.constitution_hash,
                    now_ms=self.host.clock.now_ms(),
                    proposal_id=None,
                )
            latest = crud.latest_constitution(self.engine)
        if latest is None:
            raise RuntimeError("the constitution could not be stored")
        self.constitution_version = int(latest["version"])
        self.host.set_constitution(latest["text"])
        try:
            self.params = Parameters.from_dict(
                {**self.settings.bootstrap_parameters, **crud.parameters(self.engine)}
            )
        except InvalidParameter as exc:
            raise ValueError(f"DAC parameters: {exc}") from None
        self._apply_emitter_parameters()

    def _apply_emitter_parameters(self) -> None:
        host = self.host
        host.strategy_name = self.params.strategy  # type: ignore[attr-defined]
        host.fallback = self.params.fallback  # type: ignore[attr-defined]

    async def start(self) -> None:
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
        async with self._tick_lock:
            jobs = (self.advance_proposals, self.close_due_epochs, self.process_transfers)
            for name, job in zip(DAC_JOBS, jobs, strict=True):
                try:
                    await job()
                except Exception as exc:
                    supervisor.job_failed(name, exc)
                else:
                    supervisor.job_succeeded(name)

    # --- members ---------------------------------------------------------------------------

    def now(self) -> int:
        return self.host.clock.now_ms()

    def is_active(self, account: str) -> bool:
        """Admitted, and signed the latest constitution."""
        member = self.host.members.get(account)
        return (
            member is not None
            and member["status"] == "active"
            and (member["constitution_hash"] == self.host.constitution_hash)
        )

    def active_members(self) -> list[str]:
        return sorted(a for a in self.host.members if self.is_active(a))

    def vote_weights(self) -> dict[str, int]:
        """Eligible voters and their weights (one member one vote, or delegated stake)."""
        members = self.active_members()
        if self.params.vote_weight == "member":
            return dict.fromkeys(members, 1)
        state = self.host.follower.state
        weights = dict.fromkeys(members, 0)
        for producer in state.producers.rows.values():
            for delegator, amount in producer.delegations:
                if delegator in weights:
                    weights[delegator] += amount
        return weights

    def _on_application(self, account: str) -> None:
        member = self.host.members.get(account)
        if member is None:
            return
        crud.save_signature(
            self.engine,
            row={
                "member": account,
                "version": self.constitution_version,
                "hash": member["constitution_hash"],
                "signature": member["application_signature"],
                "ts_ms": self.now(),
            },
        )
        if account in self.settings.bootstrap_members and member["status"] == "applied":
            self.host.set_status(account, "admit", by="bootstrap")

    def _require_active(self, account: str) -> None:
        if account not in self.host.members:
            raise NotAMember(f"{account} is not a member of pool {self.host.pool}")
        if not self.is_active(account):
            raise NotEligible(f"{account} must be an active member who signed the latest constitution")

    def _check_fresh(self, timestamp: int) -> None:
        now = self.now()
        if timestamp > now + MAX_FUTURE_MS or timestamp < now - 600_000:
            raise StaleMessage("the message timestamp is too far from now")

    # --- constitution ----------------------------------------------------------------------

    def constitution(self) -> dict[str, Any]:
        latest = crud.latest_constitution(self.engine)
        if latest is None:
            raise ApiError(503, "not_ready", "the DAC has not stored its constitution yet")
        return {
            "version": latest["version"],
            "hash": latest["hash"],
            "text": latest["text"],
            "signers": sorted(crud.signers(self.engine, version=latest["version"])),
        }

    def sign_constitution(self, requester: str, data: Any) -> dict[str, Any]:
        try:
            message = ConstitutionSignature.from_dict(data)
        except MalformedInput as exc:
            raise ApiError(400, "malformed", exc.message) from None
        # Verify it is this requester's signature of the latest version, for this pool
        if (
            message.member != requester
            or message.chain_id != self.host.chain_id
            or message.pool != self.host.pool
        ):
            raise BadSignature("the signature is not the requester's for this pool")
        if message.version != self.constitution_version or message.hash != self.host.constitution_hash:
            raise InvalidProposal(
                f"sign the latest constitution: version {self.constitution_version}, "
                f"hash {self.host.constitution_hash}"
            )
        self._check_fresh(message.timestamp)
        member = self.host.members.get(requester)
        if member is None or not message.verify(member["public_key"]):
            raise BadSignature("the constitution signature does not verify")
        crud.save_signature(
            self.engine,
            row={
                "member": requester,
                "version": message.version,
                "hash": message.hash,
                "signature": message.signature,
                "ts_ms": self.now(),
            },
        )
        self.host.set_member_constitution(requester, message.hash)
        return {"member": requester, "version": message.version, "active": self.is_active(requester)}

    # --- proposals -------------------------------------------------------------------------

    def _check_payload(self, kind: str, payload: Any) -> dict[str, Any]:
        if not isinstance(payload, dict):
            raise InvalidProposal("payload must be an object")
        members = self.host.members
        if kind in ("admit_member", "remove_member"):
            account = str(payload.get("account"))
            if set(payload) != {"account"} or not is_valid_account_name(account):
                raise InvalidProposal("payload: {account} with a valid account name")
            status = members.get(account, {}).get("status")
            if kind == "admit_member" and status != "applied":
                raise InvalidProposal(f"{account} has not applied (status {status})")
            if kind == "remove_member" and status not in ("active", "suspended"):
                raise InvalidProposal(f"{account} is not a member (status {status})")
            return {"account": account}
        if kind == "set_parameter":
            if set(payload) != {"name", "value"}:
                raise InvalidProposal("payload: {name, value}")
            try:
                value = check_parameter(str(payload["name"]), payload["value"])
            except InvalidParameter as exc:
                raise InvalidProposal(str(exc)) from None
            return {"name": payload["name"], "value": value}
        if kind == "amend_constitution":
            text = payload.get("text")
            if (
                set(payload) != {"text"}
                or not isinstance(text, str)
                or not text.strip()
                or len(text) > MAX_CONSTITUTION
            ):
                raise InvalidProposal(f"payload: {{text}}, non-empty, at most {MAX_CONSTITUTION} characters")
            return {"text": text, "hash": hashlib.sha256(text.encode()).hexdigest()}
        if kind == "treasury_spend":
            to, amount, memo = payload.get("to"), payload.get("amount"), payload.get("memo", "")
            if not set(payload) <= {"to", "amount", "memo"} or not is_valid_account_name(to):
                raise InvalidProposal("payload: {to, amount, memo}")
            if type(amount) is not int or amount <= 0:
                raise InvalidProposal("amount must be a positive integer in the smallest unit")
            if to not in self.host.follower.state.accounts:
                raise InvalidProposal(f"{to} does not exist on the chain")
            balance = crud.treasury(self.engine)["balance"]
            if amount > balance:
                raise InvalidProposal(f"the treasury holds {balance}, less than {amount}")
            return {"to": to, "amount": amount, "memo": str(memo)[:200]}
        raise InvalidProposal(f"kind must be one of {', '.join(k for k in KINDS if k != 'ruling')}")

    def propose(self, proposer: str, data: Any) -> dict[str, Any]:
        self._require_active(proposer)
        if not isinstance(data, dict) or set(data) - {"kind", "payload", "description"}:
            raise InvalidProposal("body: {kind, payload, description}")
        kind = data.get("kind")
        payload = self._check_payload(str(kind), data.get("payload"))
        now = self.now()
        start = now + self.params.voting_delay_s * 1000
        proposal_id = crud.create_proposal(
            self.engine,
            row={
                "kind": kind,
                "payload": orjson.dumps(payload).decode(),
                "description": str(data.get("description", ""))[:2000],
                "proposer": proposer,
                "created_ms": now,
                "vote_start_ms": start,
                "vote_end_ms": start + self.params.voting_period_s * 1000,
                "state": "Pending",
                "canceled": False,
            },
        )
        return self.proposal(proposal_id)

    def _tally(self, proposal_id: int) -> Tally:
        rows = crud.ballots(self.engine, proposal_id=proposal_id)
        return compute_tally(
            ((r["choice"], int(r["weight"])) for r in rows), sum(self.vote_weights().values())
        )

    def state_of(self, proposal: dict[str, Any], tally: Tally | None = None) -> str:
        """The proposal's state now. Final states, once stored, stay: the outcome of a vote
        does not change when the membership changes afterwards."""
        if proposal["state"] in FINAL_STATES:
            return str(proposal["state"])
        clock = ProposalClock(
            vote_start_ms=proposal["vote_start_ms"],
            vote_end_ms=proposal["vote_end_ms"],
            eta_ms=proposal["eta_ms"],
            grace_ms=self.params.grace_period_s * 1000,
            canceled=bool(proposal["canceled"]),
            executed=proposal["executed_ms"] is not None,
        )
        return compute_state(
            clock,
            tally or self._tally(proposal["id"]),
            self.now(),
            quorum_bps=self.params.quorum_bps,
            threshold_bps=self.params.threshold_bps,
        )

    def proposal(self, proposal_id: int) -> dict[str, Any]:
        row = crud.get_proposal(self.engine, proposal_id=proposal_id)
        if row is None:
            raise ApiError(404, "unknown_proposal", f"no proposal {proposal_id}")
        tally = self._tally(proposal_id)
        return {
            **{k: v for k, v in row.items() if k != "payload"},
            "payload": orjson.loads(row["payload"]),
            "state": self.state_of(row, tally),
            "tally": {"yes": tally.yes, "no": tally.no, "abstain": tally.abstain, "eligible": tally.eligible},
            "ballots": [
                {k: b[k] for k in ("voter", "choice", "weight", "ts_ms", "signature")}
                for b in crud.ballots(self.engine, proposal_id=proposal_id)
            ],
        }

    def vote(self, requester: str, proposal_id: int, data: Any) -> dict[str, Any]:
        try:
            ballot = Ballot.from_dict(data)
        except MalformedInput as exc:
            raise ApiError(400, "malformed", exc.message) from None
        # Verify the ballot is the requester's, for this proposal, pool and chain
        if (
            ballot.voter != requester
            or ballot.proposal_id != proposal_id
            or ballot.pool != self.host.pool
            or ballot.chain_id != self.host.chain_id
        ):
            raise BadSignature("the ballot is not the requester's for this proposal of this pool")
        # Verify the voter is eligible
        weights = self.vote_weights()
        if requester not in weights:
            self._require_active(requester)
        row = crud.get_proposal(self.engine, proposal_id=proposal_id)
        if row is None:
            raise ApiError(404, "unknown_proposal", f"no proposal {proposal_id}")
        # Verify the signature
        if not ballot.verify(self.host.members[requester]["public_key"]):
            raise BadSignature("the ballot signature does not verify for the voter")
        check_ballot_window(self.state_of(row), ballot, self.now(), row["vote_start_ms"])
        previous = next(
            (b for b in crud.ballots(self.engine, proposal_id=proposal_id) if b["voter"] == requester), None
        )
        check_replacement(previous["ts_ms"] if previous else None, ballot)
        crud.save_ballot(
            self.engine,
            row={
                "proposal_id": proposal_id,
                "voter": requester,
                "choice": ballot.choice,
                "weight": weights[requester],
                "ts_ms": ballot.timestamp,
                "signature": ballot.signature,
            },
        )
        return self.proposal(proposal_id)

    def cancel(self, requester: str, proposal_id: int) -> dict[str, Any]:
        row = crud.get_proposal(self.engine, proposal_id=proposal_id)
        if row is None:
            raise ApiError(404, "unknown_proposal", f"no proposal {proposal_id}")
        if row["proposer"] != requester:
            raise NotEligible("only the proposer can cancel a proposal")
        check_cancelable(self.state_of(row))
        crud.update_proposal(self.engine, proposal_id=proposal_id, canceled=True, state="Canceled")
        return self.proposal(proposal_id)

    async def advance_proposals(self) -> None:
        """Queue what succeeded, execute what waited out its timelock, refresh states."""
        open_states = ["Pending", "Active", "Succeeded", "Queued"]
        for row in crud.list_proposals(self.engine, states=open_states, limit=1000):
            state = self.state_of(row)
            if state == SUCCEEDED:
                eta = self.now() + self.params.timelock_s * 1000
                crud.update_proposal(self.engine, proposal_id=row["id"], eta_ms=eta, state=QUEUED)
                row = {**row, "eta_ms": eta}
                state = QUEUED
            if state == QUEUED and self.now() >= row["eta_ms"]:
                await self.execute(row["id"])
                continue
            if state != row["state"]:
                crud.update_proposal(self.engine, proposal_id=row["id"], state=state)

    async def execute(self, proposal_id: int) -> dict[str, Any]:
        row = crud.get_proposal(self.engine, proposal_id=proposal_id)
        if row is None:
            raise ApiError(404, "unknown_proposal", f"no proposal {proposal_id}")
        check_executable(self.state_of(row), self.now(), row["eta_ms"])
        payload = orjson.loads(row["payload"])
        try:
            result = self._apply(row, payload)
        except (ApiError, DacError, ValueError) as exc:
            message = getattr(exc, "message", str(exc))
            crud.update_proposal(self.engine, proposal_id=proposal_id, result=f"failed: {message}")
            log.warning("proposal %d (%s) failed to execute: %s", proposal_id, row["kind"], message)
            return self.proposal(proposal_id)
        crud.update_proposal(
            self.engine, proposal_id=proposal_id, executed_ms=self.now(), state="Executed", result=result
        )
        log.info("proposal %d (%s) executed: %s", proposal_id, row["kind"], result)
        return self.proposal(proposal_id)

    def _apply(self, row: dict[str, Any], payload: dict[str, Any]) -> str:
        kind, now = row["kind"], self.now()
        if kind in ("admit_member", "remove_member"):
            action = "admit" if kind == "admit_member" else "remove"
            member = self.host.set_status(payload["account"], action, by="dac")
            return f"{payload['account']} is {member['status']}"
        if kind == "set_parameter":
            self.params = self.params.with_value(payload["name"], payload["value"])
            with self.engine.begin() as conn:
                crud.set_parameter(
                    conn, name=payload["name"], value=payload["value"], now_ms=now, proposal_id=row["id"]
                )
            if payload["name"] in ("strategy", "fallback"):
                self.host.set_parameter(payload["name"], str(payload["value"]))
            return f"{payload['name']} = {payload['value']}"
        if kind == "amend_constitution":
            with self.engine.begin() as conn:
                version = crud.add_constitution(
                    conn, text=payload["text"], digest=payload["hash"], now_ms=now, proposal_id=row["id"]
                )
            self.constitution_version = version
            self.host.set_constitution(payload["text"])
            return f"constitution version {version} adopted; members must sign hash {payload['hash']}"
        if kind == "treasury_spend":
            balance = crud.treasury(self.engine)["balance"]
            if payload["amount"] > balance:
                raise InvalidProposal(f"the treasury holds {balance}, less than {payload['amount']}")
            self._add_transfer(
                "spend", row["id"], payload["to"], payload["amount"], memo=payload.get("memo", "")
            )
            return f"{payload['amount']} to {payload['to']} signed for sending"
        if kind == "ruling":
            return self._apply_ruling(row, payload)
        raise InvalidProposal(f"unknown kind {kind}")

    # --- arbitration -----------------------------------------------------------------------

    def file_dispute(self, filer: str, data: Any) -> dict[str, Any]:
        self._require_active(filer)
        if not isinstance(data, dict) or set(data) - {"against", "epoch", "evidence", "description"}:
            raise InvalidDispute("body: {against, epoch, evidence: [event ids], description}")
        against, evidence = data.get("against"), data.get("evidence")
        if not isinstance(against, str) or against not in self.host.members:
            raise InvalidDispute(f"against: {str(against)[:40]!r} is not a member")
        if (
            not isinstance(evidence, list)
            or not 1 <= len(evidence) <= MAX_EVIDENCE
            or not all(type(i) is int and 0 <= i <= INT64_MAX for i in evidence)
        ):
            raise InvalidDispute(
                f"evidence must be a list of 1 to {MAX_EVIDENCE} event ids from the pool's event log"
            )
        missing = set(evidence) - self.host.event_log.existing_event_ids(evidence)
        if missing:
            raise InvalidDispute(f"no such events in the log: {', '.join(map(str, sorted(missing)))}")
        epoch = data.get("epoch")
        if type(epoch) is not int or not 0 <= epoch <= INT64_MAX:
            raise InvalidDispute(f"epoch must be an integer in [0, {INT64_MAX}]")
        dispute_id = crud.create_dispute(
            self.engine,
            row={
                "filer": filer,
                "against": against,
                "epoch": epoch,
                "evidence": orjson.dumps(sorted(evidence)).decode(),
                "description": str(data.get("description", ""))[:4000],
                "created_ms": self.now(),
                "status": "open",
            },
        )
        return self.dispute(dispute_id)

    def dispute(self, dispute_id: int) -> dict[str, Any]:
        row = crud.get_dispute(self.engine, dispute_id=dispute_id)
        if row is None:
            raise UnknownDispute(f"no dispute {dispute_id}")
        return {
            **row,
            "evidence": orjson.loads(row["evidence"]),
            "ruling": orjson.loads(row["ruling"]) if row["ruling"] else None,
        }

    def rule(self, dispute_id: int, data: Any) -> dict[str, Any]:
        """The arbitrator's signed ruling; it executes like a passed proposal (after the timelock)."""
        try:
            ruling = Ruling.from_dict(data)
        except MalformedInput as exc:
            raise ApiError(400, "malformed", exc.message) from None
        arbitrator = self.params.arbitrator
        # Verify the ruling comes from the elected arbitrator, for this dispute of this pool
        if not arbitrator or ruling.arbitrator != arbitrator:
            raise NotArbitrator(
                f"only the elected arbitrator ({arbitrator or 'none elected'}) rules on disputes"
            )
        if (
            ruling.dispute_id != dispute_id
            or ruling.pool != self.host.pool
            or ruling.chain_id != self.host.chain_id
        ):
            raise BadSignature("the ruling is not for this dispute of this pool")
        account = self.host.follower.state.accounts.get(arbitrator)
        if account is None or not ruling.verify(account.key):
            raise BadSignature("the ruling is not signed by the arbitrator's key")
        self._check_fresh(ruling.timestamp)
        dispute = self.dispute(dispute_id)
        if dispute["status"] != "open":
            raise InvalidDispute(f"dispute {dispute_id} is {dispute['status']}")
        now = self.now()
        proposal_id = crud.create_proposal(
            self.engine,
            row={
                "kind": "ruling",
                "payload": orjson.dumps({**ruling.to_dict(), "against": dispute["against"]}).decode(),
                "description": ruling.reason,
                "proposer": arbitrator,
                "created_ms": now,
                "vote_start_ms": now,
                "vote_end_ms": now,
                "eta_ms": now + self.params.timelock_s * 1000,
                "state": QUEUED,
                "canceled": False,
                "dispute_id": dispute_id,
            },
        )
        crud.update_dispute(
            self.engine,
            dispute_id=dispute_id,
            status="ruled",
            ruling=orjson.dumps(ruling.to_dict()).decode(),
            proposal_id=proposal_id,
        )
        return {"dispute": self.dispute(dispute_id), "proposal": self.proposal(proposal_id)}

    def _apply_ruling(self, row: dict[str, Any], payload: dict[str, Any]) -> str:
        decision, against = payload["decision"], payload["against"]
        if decision == "dismiss":
            return "dismissed"
        if decision == "remove":
            self.host.set_status(against, "remove", by="dac")
            return f"{against} removed"
        bps = 10_000 if decision == "forfeit" else int(payload["penalty_bps"])
        epoch = int(payload["epoch"])
        closed = crud.last_epoch(self.engine)
        if closed is not None and epoch <= closed:
            epoch = closed + 1  # that epoch is paid already: the next statement carries it
        with self.engine.begin() as conn:
            crud.set_penalty(conn, epoch=epoch, member=against, penalty_bps=bps, dispute_id=row["dispute_id"])
        return f"{against} loses {bps / 100:.2f} % of epoch {epoch}'s share"

    # --- epochs ----------------------------------------------------------------------------

    def _lib_slot(self) -> int:
        state = self.host.follower.state
        ref = state.block_ref(state.chain.lib_height)
        return ref.slot if ref else 0

    def next_epoch(self) -> tuple[int, int, int]:
        """``(epoch, start_slot, end_slot)`` of the next epoch to close."""
        last = crud.last_epoch(self.engine)
        if last is None:
            return 0, 0, self.params.epoch_slots
        row = crud.get_epoch(self.engine, epoch=last)
        if row is None:
            raise RuntimeError(f"epoch {last} vanished")
        start = int(row["end_slot"])
        return last + 1, start, start + self.params.epoch_slots

    async def close_due_epochs(self) -> None:
        """Close every epoch whose last slot is irreversible (and whose slots the emitter ran)."""
        while True:
            epoch, start, end = self.next_epoch()
            if self._lib_slot() < end or self.host.clock.now_ms() < self._slot_start(end):
                return
            await self.close_epoch(epoch, start, end)

    def _slot_start(self, slot: int) -> int:
        genesis = self.host.genesis
        return genesis.genesis_time + slot * genesis.params.slot_ms

    async def close_epoch(self, epoch: int, start: int, end: int) -> dict[str, Any]:
        """Earnings from the chain, metrics from the event log, the split, the signed
        statement and the payouts: stored together."""
        host = self.host
        blocks = await fetch_blocks(self.node, start, end)
        earnings = sum(
            compute_producer_income(b, host.genesis.params) for b in blocks if b.header.producer == host.pool
        )
        settled = settle_epoch(
            epoch=epoch,
            start=start,
            end=end,
            earnings=earnings,
            params=self.params,
            event_log=host.event_log,
            members=self.active_members(),
            penalties=crud.penalties(self.engine, epoch=epoch),
            chain_id=host.chain_id,
            pool=host.pool,
            pool_key=host.pool_key,
        )
        transfers = (
            payout_rows(settled, first_nonce=self._next_nonce(), **self._signing())
            if self.settings.payouts
            else []
        )
        store_epoch(self.engine, settled, transfers, closed_ms=self.now())
        self.metrics.epochs_closed.inc()
        self.metrics.epoch_earnings.set(earnings)
        log.info(
            "epoch %d closed: earnings %d, treasury %d, %d payouts",
            epoch,
            earnings,
            settled.split.treasury,
            len(transfers),
        )
        return self.statement(epoch)

    def statement(self, epoch: int) -> dict[str, Any]:
        row = crud.get_epoch(self.engine, epoch=epoch)
        if row is None:
            raise ApiError(404, "unknown_epoch", f"epoch {epoch} is not closed")
        return {
            "header": orjson.loads(row["header"]),
            "signature": row["signature"],
            "status": row["status"],
            "public_key": self.host.pool_key.public_key,
            "rows": crud.statement_rows(self.engine, epoch=epoch),
        }

    # --- transfers (payouts and spends) ----------------------------------------------------

    def _next_nonce(self) -> int:
        chain_nonce = self.host.follower.state.accounts[self.host.pool].nonce
        recorded = crud.max_nonce(self.engine)
        return max(chain_nonce, (recorded + 1) if recorded is not None else 0)

    def _signing(self) -> dict[str, Any]:
        now = self.now()
        return {
            "chain_id": self.host.chain_id,
            "pool": self.host.pool,
            "pool_key": self.host.pool_key,
            "fee": self.host.genesis.params.min_fee,
            "expiration_ms": now + PAYOUT_LIFETIME_MS,
            "now_ms": now,
        }

    def _transfer_row(
        self, kind: str, ref: int, to: str, amount: int, nonce: int, *, memo: str
    ) -> dict[str, Any]:
        return transfer_row(
            kind=kind, ref=ref, to=to, amount=amount, nonce=nonce, memo=memo, **self._signing()
        )

    def _add_transfer(self, kind: str, ref: int, to: str, amount: int, *, memo: str) -> None:
        crud.add_transfer(
            self.engine, row=self._transfer_row(kind, ref, to, amount, self._next_nonce(), memo=memo)
        )

    async def process_transfers(self) -> None:
        """Send signed transfers; confirm them from the pool account's nonce; re-sign the
        ones that expired unconfirmed (same nonce, so still at most once)."""
        pending = crud.transfers(self.engine, statuses=["signed", "sent"])
        self.metrics.transfers_pending.set(len(pending))
        chain_nonce = self.host.follower.state.accounts[self.host.pool].nonce
        for t in pending:
            if chain_nonce > t["nonce"]:
                crud.update_transfer(
                    self.engine, transfer_id=t["id"], status="confirmed", updated_ms=self.now()
                )
                continue
            if self.now() > t["expiration"]:
                fresh = self._transfer_row(
                    t["kind"],
                    t["ref"],
                    t["recipient"],
                    t["amount"],
                    t["nonce"],
                    memo=orjson.loads(t["tx"])["action"].get("memo", ""),
                )
                crud.update_transfer(
                    self.engine,
                    transfer_id=t["id"],
                    tx=fresh["tx"],
                    tx_id=fresh["tx_id"],
                    expiration=fresh["expiration"],
                    status="signed",
                    updated_ms=self.now(),
                )
                continue
            if t["status"] == "signed":
                await self._send(t)
        for row in crud.list_epochs(self.engine, limit=20):
            if row["status"] == "paying":
                rows = crud.transfers(self.engine, kind="payout", ref=row["epoch"])
                if rows and all(r["status"] == "confirmed" for r in rows):
                    crud.set_epoch_status(self.engine, epoch=row["epoch"], status="paid")

    async def _send(self, transfer: dict[str, Any]) -> None:
        try:
            await self.node.push_transaction(orjson.loads(transfer["tx"]))
            self._sent += 1
            if (
                self.settings.crash_after_payouts is not None
                and self._sent >= self.settings.crash_after_payouts
            ):
                # The worst moment to die: on the node's side, not yet recorded on ours.
                log.error("fault injection: exiting after pushing %d transfers", self._sent)
                os._exit(3)
        except NodeError as exc:
            if exc.code in ("duplicate_transaction", "nonce_mismatch"):
                pass  # already in the node's mempool or chain: confirmation follows from the nonce
            elif exc.status == 0:
                return  # the node is unreachable: try again at the next tick
            else:
                self.metrics.payout_failures.inc()
                log.error(
                    "the node refused transfer %s (nonce %d): %s",
                    transfer["tx_id"][:16],
                    transfer["nonce"],
                    exc,
                )
                return
        crud.update_transfer(self.engine, transfer_id=transfer["id"], status="sent", updated_ms=self.now())

    def transfers_of_epoch(self, epoch: int) -> list[dict[str, Any]]:
        return [
            {k: t[k] for k in ("recipient", "amount", "nonce", "tx_id", "status")}
            for t in crud.transfers(self.engine, kind="payout", ref=epoch)
        ]
