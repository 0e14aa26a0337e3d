"""Governance: the constitution, proposals and their member-signed ballots, and executing
what passed.

What a proposal of each kind carries, checks and does is in the kind table of
:mod:`pool_dac.core.proposals`; the states and tallies are :mod:`pool_dac.core.governance`.
This module stores them, reads the pool's state for the checks and carries out the effects.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson

from pool_dac import crud
from pool_dac.context import DacContext, read_document
from pool_dac.core.errors import (
    BadSignature,
    DacError,
    InvalidProposal,
    NotEligible,
    NotReady,
    UnknownProposal,
)
from pool_dac.core.governance import (
    CANCELED,
    EXECUTED,
    FINAL_STATES,
    OPEN_STATES,
    PENDING,
    QUEUED,
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
from pool_dac.core.proposals import MAX_DESCRIPTION, apply_payload, load_payload, parse_payload
from pool_dac.payouts import Payouts
from pool_protocol.messages import Ballot, ConstitutionSignature

log = logging.getLogger("bppool.dac")


class PoolView:
    """The pool's state a proposal is checked against (:class:`ProposalContext`)."""

    def __init__(self, ctx: DacContext) -> None:
        self.ctx = ctx

    def member_status(self, account: str) -> str | None:
        member = self.ctx.host.members.get(account)
        return None if member is None else member.get("status")

    def is_chain_account(self, account: str) -> bool:
        return account in self.ctx.host.follower.state.accounts

    def treasury_balance(self) -> int:
        return crud.treasury(self.ctx.engine)["balance"]


class Execution(PoolView):
    """What executing proposal ``row`` does to the pool (:class:`ProposalEffects`)."""

    def __init__(self, ctx: DacContext, payouts: Payouts, row: dict[str, Any]) -> None:
        super().__init__(ctx)
        self.payouts = payouts
        self.row = row

    def set_member_status(self, account: str, action: str) -> str:
        return str(self.ctx.host.service.set_status(account, action, by="dac")["status"])

    def set_parameter(self, name: str, value: int | str) -> None:
        ctx = self.ctx
        ctx.params = ctx.params.with_value(name, value)
        with ctx.engine.begin() as conn:
            crud.set_parameter(conn, name=name, value=value, now_ms=ctx.now(), proposal_id=self.row["id"])
        if name in ("strategy", "fallback"):
            ctx.host.service.set_parameter(name, str(value))

    def adopt_constitution(self, text: str, digest: str) -> int:
        ctx = self.ctx
        with ctx.engine.begin() as conn:
            version = crud.add_constitution(
                conn, text=text, digest=digest, now_ms=ctx.now(), proposal_id=self.row["id"]
            )
        ctx.constitution_version = version
        ctx.host.service.set_constitution(text)
        return version

    def sign_spend(self, to: str, amount: int, memo: str) -> None:
        self.payouts.add_transfer("spend", self.row["id"], to, amount, memo=memo)

    def last_closed_epoch(self) -> int | None:
        return crud.last_epoch(self.ctx.engine)

    def set_penalty(self, epoch: int, member: str, penalty_bps: int) -> None:
        with self.ctx.engine.begin() as conn:
            crud.set_penalty(
                conn, epoch=epoch, member=member, penalty_bps=penalty_bps, dispute_id=self.row["dispute_id"]
            )


class Governance:
    """The constitution, proposals, ballots and execution of one DAC."""

    def __init__(self, ctx: DacContext, payouts: Payouts) -> None:
        self.ctx = ctx
        self.payouts = payouts

    # --- constitution ----------------------------------------------------------------------

    def constitution(self) -> dict[str, Any]:
        """The latest constitution with its signers."""
        latest = crud.latest_constitution(self.ctx.engine)
        if latest is None:
            raise NotReady("the DAC has not stored its constitution yet")
        return {
            "version": latest["version"],
            "hash": latest["hash"],
            "text": latest["text"],
            "signers": sorted(crud.signers(self.ctx.engine, version=latest["version"])),
        }

    def sign_constitution(self, requester: str, data: Any) -> dict[str, Any]:
        """Record a member's signature of the latest constitution (it makes the member active)."""
        ctx, host = self.ctx, self.ctx.host
        message = read_document(ConstitutionSignature, data)
        # Verify it is this requester's signature of the latest version, for this pool
        if message.member != requester or message.chain_id != host.chain_id or message.pool != host.pool:
            raise BadSignature("the signature is not the requester's for this pool")
        if message.version != ctx.constitution_version or message.hash != host.constitution_hash:
            raise InvalidProposal(
                f"sign the latest constitution: version {ctx.constitution_version}, "
                f"hash {host.constitution_hash}"
            )
        ctx.check_fresh(message.timestamp)
        member = host.members.get(requester)
        if member is None or not message.verify(member["public_key"]):
            raise BadSignature("the constitution signature does not verify")
        self.save_signature(requester, message.version, message.hash, message.signature)
        host.service.set_member_constitution(requester, message.hash)
        return {"member": requester, "version": message.version, "active": ctx.is_active(requester)}

    def save_signature(self, member: str, version: int, digest: str, signature: str) -> None:
        """Keep a member's signature of a constitution version (for audit)."""
        row = {"member": member, "version": version, "hash": digest, "signature": signature}
        crud.save_signature(self.ctx.engine, row={**row, "ts_ms": self.ctx.now()})

    # --- proposals -------------------------------------------------------------------------

    def propose(self, proposer: str, data: Any) -> dict[str, Any]:
        """A new proposal of an active member: ``{kind, payload, description}``."""
        ctx = self.ctx
        ctx.require_active(proposer)
        if not isinstance(data, dict) or set(data) - {"kind", "payload", "description"}:
            raise InvalidProposal("body: {kind, payload, description}")
        kind = data.get("kind")
        payload = parse_payload(str(kind), data.get("payload"), PoolView(ctx))
        now = ctx.now()
        start = now + ctx.params.voting_delay_s * 1000
        row = {
            "kind": kind,
            "payload": orjson.dumps(payload.to_wire()).decode(),
            "description": str(data.get("description", ""))[:MAX_DESCRIPTION],
            "proposer": proposer,
            "created_ms": now,
            "vote_start_ms": start,
            "vote_end_ms": start + ctx.params.voting_period_s * 1000,
            "state": PENDING,
            "canceled": False,
        }
        return self.proposal(crud.create_proposal(ctx.engine, row=row))

    def _row(self, proposal_id: int) -> dict[str, Any]:
        row = crud.get_proposal(self.ctx.engine, proposal_id=proposal_id)
        if row is None:
            raise UnknownProposal(f"no proposal {proposal_id}")
        return row

    def _tally(self, proposal_id: int) -> Tally:
        rows = crud.ballots(self.ctx.engine, proposal_id=proposal_id)
        return compute_tally(
            ((r["choice"], int(r["weight"])) for r in rows), sum(self.ctx.vote_weights().values())
        )

    def state_of(self, proposal: dict[str, Any], tally: Tally | None = None) -> str:
        """The proposal's state now. Final states, once stored, stay: the outcome of a vote
        does not change when the membership changes afterwards."""
        if proposal["state"] in FINAL_STATES:
            return str(proposal["state"])
        params = self.ctx.params
        clock = ProposalClock(
            vote_start_ms=proposal["vote_start_ms"],
            vote_end_ms=proposal["vote_end_ms"],
            eta_ms=proposal["eta_ms"],
            grace_ms=params.grace_period_s * 1000,
            canceled=bool(proposal["canceled"]),
            executed=proposal["executed_ms"] is not None,
        )
        return compute_state(
            clock,
            tally or self._tally(proposal["id"]),
            self.ctx.now(),
            quorum_bps=params.quorum_bps,
            threshold_bps=params.threshold_bps,
        )

    def proposal(self, proposal_id: int) -> dict[str, Any]:
        """A proposal as answered: its row, payload, state now, tally and ballots."""
        row = self._row(proposal_id)
        tally = self._tally(proposal_id)
        return {
            **{k: v for k, v in row.items() if k != "payload"},
            "payload": orjson.loads(row["payload"]),
            "state": self.state_of(row, tally),
            "tally": {"yes": tally.yes, "no": tally.no, "abstain": tally.abstain, "eligible": tally.eligible},
            "ballots": [
                {k: b[k] for k in ("voter", "choice", "weight", "ts_ms", "signature")}
                for b in crud.ballots(self.ctx.engine, proposal_id=proposal_id)
            ],
        }

    def vote(self, requester: str, proposal_id: int, data: Any) -> dict[str, Any]:
        """Count a member's signed ballot (a newer one replaces the voter's older one)."""
        ctx, host = self.ctx, self.ctx.host
        ballot = read_document(Ballot, data)
        # Verify the ballot is the requester's, for this proposal, pool and chain
        if (
            ballot.voter != requester
            or ballot.proposal_id != proposal_id
            or ballot.pool != host.pool
            or ballot.chain_id != host.chain_id
        ):
            raise BadSignature("the ballot is not the requester's for this proposal of this pool")
        # Verify the voter is eligible
        weights = ctx.vote_weights()
        if requester not in weights:
            ctx.require_active(requester)
        row = self._row(proposal_id)
        # Verify the signature
        if not ballot.verify(host.members[requester]["public_key"]):
            raise BadSignature("the ballot signature does not verify for the voter")
        check_ballot_window(self.state_of(row), ballot, ctx.now(), row["vote_start_ms"])
        previous = next(
            (b for b in crud.ballots(ctx.engine, proposal_id=proposal_id) if b["voter"] == requester), None
        )
        check_replacement(previous["ts_ms"] if previous else None, ballot)
        row = {
            "proposal_id": proposal_id,
            "voter": requester,
            "choice": ballot.choice,
            "weight": weights[requester],
            "ts_ms": ballot.timestamp,
            "signature": ballot.signature,
        }
        crud.save_ballot(ctx.engine, row=row)
        return self.proposal(proposal_id)

    def cancel(self, requester: str, proposal_id: int) -> dict[str, Any]:
        """The proposer cancels its proposal while Pending or Active."""
        row = self._row(proposal_id)
        if row["proposer"] != requester:
            raise NotEligible("only the proposer can cancel a proposal")
        check_cancelable(self.state_of(row))
        crud.update_proposal(self.ctx.engine, proposal_id=proposal_id, canceled=True, state=CANCELED)
        return self.proposal(proposal_id)

    async def advance_proposals(self) -> None:
        """Queue what succeeded, execute what waited out its timelock, refresh states."""
        ctx = self.ctx
        for row in crud.list_proposals(ctx.engine, states=list(OPEN_STATES), limit=1000):
            state = self.state_of(row)
            if state == SUCCEEDED:
                eta = ctx.now() + ctx.params.timelock_s * 1000
                crud.update_proposal(ctx.engine, proposal_id=row["id"], eta_ms=eta, state=QUEUED)
                row = {**row, "eta_ms": eta}
                state = QUEUED
            if state == QUEUED and ctx.now() >= row["eta_ms"]:
                await self.execute(row["id"])
                continue
            if state != row["state"]:
                crud.update_proposal(ctx.engine, proposal_id=row["id"], state=state)

    async def execute(self, proposal_id: int) -> dict[str, Any]:
        """Execute a Queued proposal whose timelock ended; a failure is recorded with it."""
        ctx = self.ctx
        row = self._row(proposal_id)
        check_executable(self.state_of(row), ctx.now(), row["eta_ms"])
        data = orjson.loads(row["payload"])
        try:
            payload = load_payload(row["kind"], data)
            result = apply_payload(row["kind"], payload, Execution(ctx, self.payouts, row))
        except (DacError, ValueError) as exc:
            message = getattr(exc, "message", str(exc))
            crud.update_proposal(ctx.engine, proposal_id=proposal_id, result=f"failed: {message}")
            log.warning("proposal %d (%s) failed to execute: %s", proposal_id, row["kind"], message)
            return self.proposal(proposal_id)
        crud.update_proposal(
            ctx.engine, proposal_id=proposal_id, executed_ms=ctx.now(), state=EXECUTED, result=result
        )
        log.info("proposal %d (%s) executed: %s", proposal_id, row["kind"], result)
        return self.proposal(proposal_id)
