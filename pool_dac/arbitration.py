"""Arbitration: disputes filed by members with evidence from the pool's event log, and the
elected arbitrator's signed rulings, executed like passed proposals (kind ``ruling``, created
Queued: after the timelock, see :func:`pool_dac.core.proposals.apply_ruling`)."""

from __future__ import annotations

from typing import Any

import orjson

from chain.core.types import INT64_MAX
from pool_dac import crud
from pool_dac.context import DacContext, read_document
from pool_dac.core.errors import BadSignature, InvalidDispute, NotArbitrator, UnknownDispute
from pool_dac.core.governance import QUEUED
from pool_dac.core.proposals import RulingExecution
from pool_protocol.messages import Ruling

MAX_EVIDENCE = 100  # event ids a dispute may cite
MAX_DISPUTE_DESCRIPTION = 4000  # characters of a dispute's description kept
DISPUTE_FIELDS = {"against", "epoch", "evidence", "description"}


class Arbitration:
    """The disputes and rulings of one DAC."""

    def __init__(self, ctx: DacContext) -> None:
        self.ctx = ctx

    def file_dispute(self, filer: str, data: Any) -> dict[str, Any]:
        """An active member's dispute: ``{against, epoch, evidence: [event ids], description}``."""
        ctx = self.ctx
        ctx.require_active(filer)
        if not isinstance(data, dict) or set(data) - DISPUTE_FIELDS:
            raise InvalidDispute("body: {against, epoch, evidence: [event ids], description}")
        against, evidence, epoch = data.get("against"), data.get("evidence"), data.get("epoch")
        # Verify the dispute is against a member, cites existing events, names an epoch
        if not isinstance(against, str) or against not in ctx.host.members:
            raise InvalidDispute(f"against: {str(against)[:40]!r} is not a member")
        evidence = self._check_evidence(evidence)
        if type(epoch) is not int or not 0 <= epoch <= INT64_MAX:
            raise InvalidDispute(f"epoch must be an integer in [0, {INT64_MAX}]")
        row = {
            "filer": filer,
            "against": against,
            "epoch": epoch,
            "evidence": orjson.dumps(sorted(evidence)).decode(),
            "description": str(data.get("description", ""))[:MAX_DISPUTE_DESCRIPTION],
            "created_ms": ctx.now(),
            "status": "open",
        }
        return self.dispute(crud.create_dispute(ctx.engine, row=row))

    def _check_evidence(self, evidence: Any) -> list[int]:
        if (
            not isinstance(evidence, list)
            or not 1 <= len(evidence) <= MAX_EVIDENCE
            or not all(type(i) is int and 0 <= i <= INT64_MAX for i in evidence)
        ):
            raise InvalidDispute(
                f"evidence must be a list of 1 to {MAX_EVIDENCE} event ids from the pool's event log"
            )
        missing = set(evidence) - self.ctx.host.event_log.existing_event_ids(evidence)
        if missing:
            raise InvalidDispute(f"no such events in the log: {', '.join(map(str, sorted(missing)))}")
        return evidence

    def dispute(self, dispute_id: int) -> dict[str, Any]:
        """A dispute as answered, with its ruling."""
        row = crud.get_dispute(self.ctx.engine, dispute_id=dispute_id)
        if row is None:
            raise UnknownDispute(f"no dispute {dispute_id}")
        return {
            **row,
            "evidence": orjson.loads(row["evidence"]),
            "ruling": orjson.loads(row["ruling"]) if row["ruling"] else None,
        }

    def rule(self, dispute_id: int, data: Any) -> tuple[dict[str, Any], int]:
        """Record the arbitrator's signed ruling on an open dispute; returns the dispute and
        the id of the proposal that executes the ruling after the timelock."""
        ruling = self._verify_ruling(dispute_id, read_document(Ruling, data))
        dispute = self.dispute(dispute_id)
        if dispute["status"] != "open":
            raise InvalidDispute(f"dispute {dispute_id} is {dispute['status']}")
        ctx, now = self.ctx, self.ctx.now()
        payload = RulingExecution(ruling, dispute["against"])
        row = {
            "kind": "ruling",
            "payload": orjson.dumps(payload.to_wire()).decode(),
            "description": ruling.reason,
            "proposer": ruling.arbitrator,
            "created_ms": now,
            "vote_start_ms": now,
            "vote_end_ms": now,
            "eta_ms": now + ctx.params.timelock_s * 1000,
            "state": QUEUED,
            "canceled": False,
            "dispute_id": dispute_id,
        }
        proposal_id = crud.create_proposal(ctx.engine, row=row)
        ruled = orjson.dumps(ruling.to_dict()).decode()
        crud.update_dispute(
            ctx.engine, dispute_id=dispute_id, status="ruled", ruling=ruled, proposal_id=proposal_id
        )
        return self.dispute(dispute_id), proposal_id

    def _verify_ruling(self, dispute_id: int, ruling: Ruling) -> Ruling:
        host, arbitrator = self.ctx.host, self.ctx.params.arbitrator
        # Verify the ruling comes from the elected arbitrator, for this dispute of this pool
        if not arbitrator or ruling.arbitrator != arbitrator:
            raise NotArbitrator(
                f"only the elected arbitrator ({arbitrator or 'none elected'}) rules on disputes"
            )
        if ruling.dispute_id != dispute_id or ruling.pool != host.pool or ruling.chain_id != host.chain_id:
            raise BadSignature("the ruling is not for this dispute of this pool")
        # Verify the arbitrator's key on chain signed it, recently
        account = host.follower.state.accounts.get(arbitrator)
        if account is None or not ruling.verify(account.key):
            raise BadSignature("the ruling is not signed by the arbitrator's key")
        self.ctx.check_fresh(ruling.timestamp)
        return ruling
