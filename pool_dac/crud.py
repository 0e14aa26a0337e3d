"""Data access for the DAC (keyword-only functions; nothing here knows about HTTP)."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import Column, Table, delete, func, insert, select, update
from sqlalchemy.engine import Connection, Engine
from sqlmodel import SQLModel

import pool_dac.models  # noqa: F401  (registers the tables)

T = SQLModel.metadata.tables
CONSTITUTION = T["dac_constitution"]
SIGNATURE = T["dac_constitution_signature"]
PARAMETER = T["dac_parameter"]
PROPOSAL = T["dac_proposal"]
BALLOT = T["dac_ballot"]
DISPUTE = T["dac_dispute"]
PENALTY = T["dac_penalty"]
EPOCH = T["dac_epoch"]
ROW = T["dac_statement_row"]
TRANSFER = T["dac_transfer"]


def _dicts(rows: Any) -> list[dict[str, Any]]:
    return [dict(r) for r in rows.mappings().all()]


def _create(engine: Engine, table: Table, row: dict[str, Any]) -> int:
    """Insert ``row``; the new row's id."""
    with engine.begin() as conn:
        key = conn.execute(insert(table).values(**row)).inserted_primary_key
    if key is None:
        raise RuntimeError("the database returned no id for the new row")
    return int(key[0])


def _get(engine: Engine, key: Column[Any], value: int) -> dict[str, Any] | None:
    """The row whose ``key`` is ``value``, if any."""
    with engine.connect() as conn:
        row = conn.execute(select(key.table).where(key == value)).mappings().first()
        return dict(row) if row else None


def _update(engine: Engine, key: Column[Any], value: int, values: dict[str, Any]) -> None:
    with engine.begin() as conn:
        conn.execute(update(key.table).where(key == value).values(**values))


# --- constitution ------------------------------------------------------------------------------


def latest_constitution(engine: Engine) -> dict[str, Any] | None:
    with engine.connect() as conn:
        row = (
            conn.execute(select(CONSTITUTION).order_by(CONSTITUTION.c.version.desc()).limit(1))
            .mappings()
            .first()
        )
        return dict(row) if row else None


def constitutions(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return _dicts(conn.execute(select(CONSTITUTION).order_by(CONSTITUTION.c.version)))


def add_constitution(
    conn: Connection, *, text: str, digest: str, now_ms: int, proposal_id: int | None
) -> int:
    current = conn.execute(select(func.coalesce(func.max(CONSTITUTION.c.version), 0))).scalar_one()
    version = int(current) + 1
    conn.execute(
        insert(CONSTITUTION),
        [
            {
                "version": version,
                "text": text,
                "hash": digest,
                "adopted_ms": now_ms,
                "proposal_id": proposal_id,
            }
        ],
    )
    return version


def save_signature(engine: Engine, *, row: dict[str, Any]) -> None:
    with engine.begin() as conn:
        conn.execute(
            delete(SIGNATURE).where(
                (SIGNATURE.c.member == row["member"]) & (SIGNATURE.c.version == row["version"])
            )
        )
        conn.execute(insert(SIGNATURE), [row])


def signers(engine: Engine, *, version: int) -> set[str]:
    with engine.connect() as conn:
        return set(
            conn.execute(select(SIGNATURE.c.member).where(SIGNATURE.c.version == version)).scalars().all()
        )


# --- parameters --------------------------------------------------------------------------------


def parameters(engine: Engine) -> dict[str, Any]:
    with engine.connect() as conn:
        return {r["name"]: orjson.loads(r["value"]) for r in conn.execute(select(PARAMETER)).mappings().all()}


def set_parameter(conn: Connection, *, name: str, value: Any, now_ms: int, proposal_id: int | None) -> None:
    conn.execute(delete(PARAMETER).where(PARAMETER.c.name == name))
    conn.execute(
        insert(PARAMETER),
        [
            {
                "name": name,
                "value": orjson.dumps(value).decode(),
                "updated_ms": now_ms,
                "proposal_id": proposal_id,
            }
        ],
    )


# --- proposals and ballots ---------------------------------------------------------------------


def create_proposal(engine: Engine, *, row: dict[str, Any]) -> int:
    return _create(engine, PROPOSAL, row)


def get_proposal(engine: Engine, *, proposal_id: int) -> dict[str, Any] | None:
    return _get(engine, PROPOSAL.c.id, proposal_id)


def list_proposals(
    engine: Engine, *, states: list[str] | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    query = select(PROPOSAL)
    if states:
        query = query.where(PROPOSAL.c.state.in_(states))
    with engine.connect() as conn:
        return _dicts(conn.execute(query.order_by(PROPOSAL.c.id.desc()).limit(limit)))


def count_proposals_by_state(engine: Engine) -> dict[str, int]:
    """Proposals per stored state (refreshed by the DAC's periodic job)."""
    with engine.connect() as conn:
        rows = conn.execute(select(PROPOSAL.c.state, func.count()).group_by(PROPOSAL.c.state)).all()
    return {str(state): int(n) for state, n in rows}


def update_proposal(engine: Engine, *, proposal_id: int, **values: Any) -> None:
    _update(engine, PROPOSAL.c.id, proposal_id, values)


def ballots(engine: Engine, *, proposal_id: int) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return _dicts(
            conn.execute(select(BALLOT).where(BALLOT.c.proposal_id == proposal_id).order_by(BALLOT.c.voter))
        )


def save_ballot(engine: Engine, *, row: dict[str, Any]) -> None:
    """Record a ballot, replacing the voter's earlier one (a vote can change while Active)."""
    with engine.begin() as conn:
        conn.execute(
            delete(BALLOT).where(
                (BALLOT.c.proposal_id == row["proposal_id"]) & (BALLOT.c.voter == row["voter"])
            )
        )
        conn.execute(insert(BALLOT), [row])


# --- disputes and penalties --------------------------------------------------------------------


def create_dispute(engine: Engine, *, row: dict[str, Any]) -> int:
    return _create(engine, DISPUTE, row)


def get_dispute(engine: Engine, *, dispute_id: int) -> dict[str, Any] | None:
    return _get(engine, DISPUTE.c.id, dispute_id)


def list_disputes(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return _dicts(conn.execute(select(DISPUTE).order_by(DISPUTE.c.id.desc())))


def update_dispute(engine: Engine, *, dispute_id: int, **values: Any) -> None:
    _update(engine, DISPUTE.c.id, dispute_id, values)


def set_penalty(
    conn: Connection, *, epoch: int, member: str, penalty_bps: int, dispute_id: int | None
) -> None:
    conn.execute(delete(PENALTY).where((PENALTY.c.epoch == epoch) & (PENALTY.c.member == member)))
    conn.execute(
        insert(PENALTY),
        [{"epoch": epoch, "member": member, "penalty_bps": penalty_bps, "dispute_id": dispute_id}],
    )


def penalties(engine: Engine, *, epoch: int) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(PENALTY.c.member, PENALTY.c.penalty_bps).where(PENALTY.c.epoch == epoch)
        ).all()
    return {member: int(bps) for member, bps in rows}


# --- epochs and statements ---------------------------------------------------------------------


def last_epoch(engine: Engine) -> int | None:
    with engine.connect() as conn:
        value = conn.execute(select(func.max(EPOCH.c.epoch))).scalar_one()
        return None if value is None else int(value)


def save_epoch(
    engine: Engine, *, epoch: dict[str, Any], rows: list[dict[str, Any]], transfers: list[dict[str, Any]]
) -> None:
    """An epoch's statement, its rows and its payouts (signed, not yet sent): all or nothing."""
    with engine.begin() as conn:
        conn.execute(insert(EPOCH), [epoch])
        if rows:
            conn.execute(insert(ROW), rows)
        if transfers:
            conn.execute(insert(TRANSFER), transfers)


def get_epoch(engine: Engine, *, epoch: int) -> dict[str, Any] | None:
    return _get(engine, EPOCH.c.epoch, epoch)


def list_epochs(engine: Engine, *, limit: int = 100) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return _dicts(conn.execute(select(EPOCH).order_by(EPOCH.c.epoch.desc()).limit(limit)))


def statement_rows(engine: Engine, *, epoch: int) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(select(ROW.c.row).where(ROW.c.epoch == epoch).order_by(ROW.c.idx)).scalars().all()
    return [orjson.loads(r) for r in rows]


def set_epoch_status(engine: Engine, *, epoch: int, status: str) -> None:
    _update(engine, EPOCH.c.epoch, epoch, {"status": status})


# --- transfers ---------------------------------------------------------------------------------


def max_nonce(engine: Engine) -> int | None:
    with engine.connect() as conn:
        value = conn.execute(select(func.max(TRANSFER.c.nonce))).scalar_one()
        return None if value is None else int(value)


def transfers(
    engine: Engine, *, statuses: list[str] | None = None, kind: str | None = None, ref: int | None = None
) -> list[dict[str, Any]]:
    query = select(TRANSFER)
    if statuses:
        query = query.where(TRANSFER.c.status.in_(statuses))
    if kind:
        query = query.where(TRANSFER.c.kind == kind)
    if ref is not None:
        query = query.where(TRANSFER.c.ref == ref)
    with engine.connect() as conn:
        return _dicts(conn.execute(query.order_by(TRANSFER.c.nonce)))


def paid_by_member(engine: Engine) -> dict[str, int]:
    """Payouts confirmed on chain, summed per member."""
    query = (
        select(TRANSFER.c.recipient, func.sum(TRANSFER.c.amount))
        .where((TRANSFER.c.kind == "payout") & (TRANSFER.c.status == "confirmed"))
        .group_by(TRANSFER.c.recipient)
    )
    with engine.connect() as conn:
        return {str(member): int(total) for member, total in conn.execute(query).all()}


def add_transfer(engine: Engine, *, row: dict[str, Any]) -> None:
    with engine.begin() as conn:
        conn.execute(insert(TRANSFER), [row])


def update_transfer(engine: Engine, *, transfer_id: int, **values: Any) -> None:
    _update(engine, TRANSFER.c.id, transfer_id, values)


def treasury(engine: Engine) -> dict[str, int]:
    """Treasury accounting: fees kept from epochs minus spends made."""
    with engine.connect() as conn:
        collected = conn.execute(select(func.coalesce(func.sum(EPOCH.c.treasury), 0))).scalar_one()
        spent = conn.execute(
            select(func.coalesce(func.sum(TRANSFER.c.amount), 0)).where(TRANSFER.c.kind == "spend")
        ).scalar_one()
    return {"collected": int(collected), "spent": int(spent), "balance": int(collected) - int(spent)}
