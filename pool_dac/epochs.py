"""Closing epochs: earnings from the chain, metrics from the event log, the split, the signed
statement and the signed payout transactions, stored in one database transaction.

:class:`Epochs` closes each epoch once its blocks are irreversible (reading the earnings from
the chain) with :func:`settle_epoch`; ``bench/dac_split.py`` measures the same function.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import orjson

from chain.client.http import AsyncNodeClient
from chain.core import PrivateKey
from chain.core.transition import compute_producer_income
from pool_dac import crud
from pool_dac.chainread import fetch_blocks
from pool_dac.context import DacContext
from pool_dac.core.errors import UnknownEpoch
from pool_dac.core.params import Parameters
from pool_dac.core.split import MemberMetrics, Split, compute_counted_slots, compute_split
from pool_dac.core.statement import compute_rows, compute_statement_header, sign_statement
from pool_dac.host import EventLog
from pool_dac.metrics import DacMetrics
from pool_dac.payouts import Payouts, payout_rows

log = logging.getLogger("bppool.dac")


@dataclass(frozen=True)
class SettledEpoch:
    """A closed epoch ready to store: the signed statement header, its rows and the split."""

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
    header = compute_statement_header(
        chain_id=chain_id,
        pool=pool,
        epoch=epoch,
        start_slot=start,
        end_slot=end,
        earnings=earnings,
        split=split,
        rows=rows,
        pool_slots=pool_slots,
        counted_slots=len(counted),
        policy=params.reward_policy,
        treasury_fee_bps=params.treasury_fee_bps,
        min_participation_bps=params.min_participation_bps,
        reconnect_grace_slots=params.reconnect_grace_slots,
        hybrid_base_bps=params.hybrid_base_bps,
        penalties=penalties,
    )
    return SettledEpoch(header, sign_statement(pool_key, header), rows, split)


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


class Epochs:
    """Closes the epochs of one DAC and reads their statements."""

    def __init__(self, ctx: DacContext, node: AsyncNodeClient, payouts: Payouts, metrics: DacMetrics) -> None:
        self.ctx = ctx
        self.node = node
        self.payouts = payouts
        self.metrics = metrics

    def next_epoch(self) -> tuple[int, int, int]:
        """``(epoch, start_slot, end_slot)`` of the next epoch to close."""
        engine, epoch_slots = self.ctx.engine, self.ctx.params.epoch_slots
        last = crud.last_epoch(engine)
        if last is None:
            return 0, 0, epoch_slots
        row = crud.get_epoch(engine, epoch=last)
        if row is None:
            raise RuntimeError(f"epoch {last} vanished")
        start = int(row["end_slot"])
        return last + 1, start, start + epoch_slots

    def _lib_slot(self) -> int:
        state = self.ctx.host.follower.state
        ref = state.block_ref(state.chain.lib_height)
        return ref.slot if ref else 0

    def _slot_start(self, slot: int) -> int:
        genesis = self.ctx.host.genesis
        return genesis.genesis_time + slot * genesis.params.slot_ms

    async def close_due_epochs(self) -> None:
        """Close every epoch whose last slot is irreversible (and whose slots the emitter ran)."""
        while True:
            epoch, start, end = self.next_epoch()
            if self._lib_slot() < end or self.ctx.now() < self._slot_start(end):
                return
            await self.close_epoch(epoch, start, end)

    async def close_epoch(self, epoch: int, start: int, end: int) -> dict[str, Any]:
        """Earnings from the chain, metrics from the event log, the split, the signed
        statement and the payouts: stored together."""
        ctx, host = self.ctx, self.ctx.host
        blocks = await fetch_blocks(self.node, start, end)
        earnings = sum(
            compute_producer_income(b, host.genesis.params) for b in blocks if b.header.producer == host.pool
        )
        settled = settle_epoch(
            epoch=epoch,
            start=start,
            end=end,
            earnings=earnings,
            params=ctx.params,
            event_log=host.event_log,
            members=ctx.active_members(),
            penalties=crud.penalties(ctx.engine, epoch=epoch),
            chain_id=host.chain_id,
            pool=host.pool,
            pool_key=host.pool_key,
        )
        transfers = self._payouts(settled)
        store_epoch(ctx.engine, settled, transfers, closed_ms=ctx.now())
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

    def _payouts(self, settled: SettledEpoch) -> list[dict[str, Any]]:
        if not self.ctx.settings.payouts:
            return []
        return payout_rows(
            settled.rows,
            epoch=settled.header["epoch"],
            first_nonce=self.payouts.next_nonce(),
            **self.payouts.signing(),
        )

    def statement(self, epoch: int) -> dict[str, Any]:
        """A closed epoch's signed statement: header, signature, status, key and rows."""
        engine = self.ctx.engine
        row = crud.get_epoch(engine, epoch=epoch)
        if row is None:
            raise UnknownEpoch(f"epoch {epoch} is not closed")
        return {
            "header": orjson.loads(row["header"]),
            "signature": row["signature"],
            "status": row["status"],
            "public_key": self.ctx.host.pool_key.public_key,
            "rows": crud.statement_rows(engine, epoch=epoch),
        }
