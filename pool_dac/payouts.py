"""Payouts and treasury spends: transfers from the pool account, signed once with their nonce
and stored before anything is sent, then sent, confirmed from the pool account's nonce on chain,
and re-signed with the same nonce when they expire unconfirmed.

Exactly once: the chain accepts each nonce of the pool account only once, so sending a stored
transaction again after a crash never pays twice.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import orjson

from chain.client.http import AsyncNodeClient, NodeError
from chain.core import PrivateKey, Transaction
from chain.core.containers import Transfer
from chain.core.types import AccountName, Amount, Timestamp
from pool_dac import crud
from pool_dac.context import DacContext
from pool_dac.metrics import DacMetrics

log = logging.getLogger("bppool.dac")

PAYOUT_LIFETIME_MS = 50 * 60 * 1000
PENDING = ["signed", "sent"]
# The node already has the transaction (mempool or chain): confirmation follows from the nonce.
ALREADY_SENT = ("duplicate_transaction", "nonce_mismatch")


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


def payout_rows(
    rows: list[dict[str, Any]], *, epoch: int, first_nonce: int, **signing: Any
) -> list[dict[str, Any]]:
    """One signed payout per statement row with a positive amount, nonces in statement order."""
    paid = [row for row in rows if row["amount"] > 0]
    return [
        transfer_row(
            kind="payout",
            ref=epoch,
            to=row["member"],
            amount=row["amount"],
            nonce=first_nonce + i,
            memo=f"bppool payout epoch {epoch}",
            **signing,
        )
        for i, row in enumerate(paid)
    ]


class Payouts:
    """The pool account's transfers: signing, sending, confirming, re-signing."""

    def __init__(self, ctx: DacContext, node: AsyncNodeClient, metrics: DacMetrics) -> None:
        self.ctx = ctx
        self.node = node
        self.metrics = metrics
        self._sent = 0

    def next_nonce(self) -> int:
        """The pool account's next nonce: past the chain's and every one signed already."""
        chain_nonce = self._chain_nonce()
        recorded = crud.max_nonce(self.ctx.engine)
        return max(chain_nonce, (recorded + 1) if recorded is not None else 0)

    def _chain_nonce(self) -> int:
        host = self.ctx.host
        return int(host.follower.state.accounts[host.pool].nonce)

    def signing(self) -> dict[str, Any]:
        """What signs a transfer now (the keyword arguments of :func:`transfer_row`)."""
        host, now = self.ctx.host, self.ctx.now()
        return {
            "chain_id": host.chain_id,
            "pool": host.pool,
            "pool_key": host.pool_key,
            "fee": host.genesis.params.min_fee,
            "expiration_ms": now + PAYOUT_LIFETIME_MS,
            "now_ms": now,
        }

    def add_transfer(self, kind: str, ref: int, to: str, amount: int, *, memo: str) -> None:
        """Sign and store one transfer with the next nonce (sent by :meth:`process_transfers`)."""
        row = transfer_row(
            kind=kind, ref=ref, to=to, amount=amount, nonce=self.next_nonce(), memo=memo, **self.signing()
        )
        crud.add_transfer(self.ctx.engine, row=row)

    async def process_transfers(self) -> None:
        """Send signed transfers; confirm them from the pool account's nonce; re-sign the
        ones that expired unconfirmed (same nonce, so still at most once)."""
        pending = crud.transfers(self.ctx.engine, statuses=PENDING)
        self.metrics.transfers_pending.set(len(pending))
        chain_nonce = self._chain_nonce()
        for transfer in pending:
            if chain_nonce > transfer["nonce"]:
                self._update(transfer, status="confirmed")
            elif self.ctx.now() > transfer["expiration"]:
                self._resign(transfer)
            elif transfer["status"] == "signed":
                await self._send(transfer)
        self._mark_paid_epochs()

    def _update(self, transfer: dict[str, Any], **values: Any) -> None:
        crud.update_transfer(self.ctx.engine, transfer_id=transfer["id"], updated_ms=self.ctx.now(), **values)

    def _resign(self, transfer: dict[str, Any]) -> None:
        """The same transfer with the same nonce and a new expiration."""
        fresh = transfer_row(
            kind=transfer["kind"],
            ref=transfer["ref"],
            to=transfer["recipient"],
            amount=transfer["amount"],
            nonce=transfer["nonce"],
            memo=orjson.loads(transfer["tx"])["action"].get("memo", ""),
            **self.signing(),
        )
        self._update(
            transfer, tx=fresh["tx"], tx_id=fresh["tx_id"], expiration=fresh["expiration"], status="signed"
        )

    def _mark_paid_epochs(self) -> None:
        engine = self.ctx.engine
        for row in crud.list_epochs(engine, limit=20):
            if row["status"] == "paying":
                rows = crud.transfers(engine, kind="payout", ref=row["epoch"])
                if rows and all(r["status"] == "confirmed" for r in rows):
                    crud.set_epoch_status(engine, epoch=row["epoch"], status="paid")

    async def _send(self, transfer: dict[str, Any]) -> None:
        try:
            await self.node.push_transaction(orjson.loads(transfer["tx"]))
            self._sent += 1
            self._maybe_crash()
        except NodeError as exc:
            if exc.code not in ALREADY_SENT:
                if exc.status != 0:  # 0: the node is unreachable, try again at the next tick
                    self.metrics.payout_failures.inc()
                    log.error(
                        "the node refused transfer %s (nonce %d): %s",
                        transfer["tx_id"][:16],
                        transfer["nonce"],
                        exc,
                    )
                return
        self._update(transfer, status="sent")

    def _maybe_crash(self) -> None:
        limit = self.ctx.settings.crash_after_payouts
        if limit is not None and self._sent >= limit:
            # The worst moment to die: on the node's side, not yet recorded on ours.
            log.error("fault injection: exiting after pushing %d transfers", self._sent)
            os._exit(3)

    def transfers_of_epoch(self, epoch: int) -> list[dict[str, Any]]:
        """An epoch's payouts as answered."""
        return [
            {k: t[k] for k in ("recipient", "amount", "nonce", "tx_id", "status")}
            for t in crud.transfers(self.ctx.engine, kind="payout", ref=epoch)
        ]
