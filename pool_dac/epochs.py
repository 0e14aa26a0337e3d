"""Closing an epoch, given its earnings: metrics from the event log, the split, the signed
statement and the signed payout transactions, ready to be stored in one database transaction.

The DAC service calls :func:`settle_epoch` once the epoch's blocks are irreversible (after
reading the earnings from the chain); ``bench/dac_split.py`` measures the same function.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from chain.core import PrivateKey, Transaction
from chain.core.containers import Transfer
from chain.core.types import AccountName, Amount, Timestamp
from pool_dac import crud
from pool_dac.core.params import Parameters
from pool_dac.core.split import MemberMetrics, Split, compute_counted_slots, compute_split
from pool_dac.core.statement import compute_rows, compute_statement_root, sign_statement
from pool_dac.host import EventLog


@dataclass(frozen=True)
class SettledEpoch:
    header: dict[str, Any]
    signature: str
    rows: list[dict[str, Any]]
    split: Split


def settle_epoch(
    *,
    epoch: int,
    start: int,
    end: int,
    earnings: int,
    params: Parameters,
    event_log: EventLog,
    members: list[str],
    penalties: dict[str, int],
    chain_id: str,
    pool: str,
    pool_key: PrivateKey,
) -> SettledEpoch:
    """The statement of epoch ``epoch`` (slots ``[start, end)``) for the active ``members``."""
    pool_slots, metrics = event_log.member_metrics(start, end)
    counted = compute_counted_slots(
        event_log.pool_slot_numbers(start, end), event_log.feed_openings(end), params.reconnect_grace_slots
    )
    split = compute_split(
        earnings=earnings,
        treasury_fee_bps=params.treasury_fee_bps,
        policy=params.reward_policy,
        min_participation_bps=params.min_participation_bps,
        hybrid_base_bps=params.hybrid_base_bps,
        pool_slots=len(counted),
        members=[MemberMetrics(m, **metrics.get(m, {})) for m in members],
        penalties=penalties,
    )
    rows = compute_rows(epoch, split)
    header = {
        "chain_id": chain_id,
        "pool": pool,
        "epoch": epoch,
        "start_slot": start,
        "end_slot": end,
        "earnings": earnings,
        "treasury": split.treasury,
        "pool_slots": pool_slots,
        "counted_slots": len(counted),
        "members": len(rows),
        "policy": params.reward_policy,
        "treasury_fee_bps": params.treasury_fee_bps,
        "min_participation_bps": params.min_participation_bps,
        "reconnect_grace_slots": params.reconnect_grace_slots,
        "hybrid_base_bps": params.hybrid_base_bps,
        "penalties": dict(sorted(penalties.items())),
        "root": compute_statement_root(rows),
    }
    return SettledEpoch(header, sign_statement(pool_key, header), rows, split)


def transfer_row(
    *,
    kind: str,
    ref: int,
    to: str,
    amount: int,
    nonce: int,
    memo: str,
    chain_id: str,
    pool: str,
    pool_key: PrivateKey,
    fee: int,
    expiration_ms: int,
    now_ms: int,
) -> dict[str, Any]:
    """A transfer from the pool account, signed with its nonce, as a ``dac_transfer`` row."""
    tx = Transaction(
        chain_id=chain_id,  # type: ignore[arg-type]
        sender=AccountName(pool),
        nonce=nonce,
        fee=Amount(fee),
        expiration=Timestamp(expiration_ms),
        action=Transfer(AccountName(to), Amount(amount), memo),
    ).sign(pool_key)
    return {
        "kind": kind,
        "ref": ref,
        "recipient": to,
        "amount": amount,
        "nonce": nonce,
        "expiration": expiration_ms,
        "tx_id": tx.id,
        "tx": orjson.dumps(tx.to_dict()).decode(),
        "status": "signed",
        "created_ms": now_ms,
        "updated_ms": now_ms,
    }


def payout_rows(settled: SettledEpoch, *, first_nonce: int, **signing: Any) -> list[dict[str, Any]]:
    """One signed payout per member with a positive amount, nonces in statement order."""
    transfers = []
    nonce = first_nonce
    for row in settled.rows:
        if row["amount"] > 0:
            transfers.append(
                transfer_row(
                    kind="payout",
                    ref=settled.header["epoch"],
                    to=row["member"],
                    amount=row["amount"],
                    nonce=nonce,
                    memo=f"bppool payout epoch {settled.header['epoch']}",
                    **signing,
                )
            )
            nonce += 1
    return transfers


def store_epoch(
    engine: Any, settled: SettledEpoch, transfers: list[dict[str, Any]], *, closed_ms: int
) -> None:
    """The statement, its rows and its signed payouts, in one database transaction."""
    header = settled.header
    crud.save_epoch(
        engine,
        epoch={
            "epoch": header["epoch"],
            "start_slot": header["start_slot"],
            "end_slot": header["end_slot"],
            "earnings": header["earnings"],
            "treasury": settled.split.treasury,
            "root": header["root"],
            "signature": settled.signature,
            "header": orjson.dumps(header).decode(),
            "closed_ms": closed_ms,
            "status": "paying" if transfers else "closed",
        },
        rows=[
            {
                "epoch": header["epoch"],
                "member": r["member"],
                "idx": i,
                "amount": r["amount"],
                "row": orjson.dumps(r).decode(),
            }
            for i, r in enumerate(settled.rows)
        ],
        transfers=transfers,
    )
