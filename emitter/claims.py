"""The signing guard: nothing is signed with the pool key for a slot without a committed claim.

Before the pool key signs a block (a member's candidate or a fallback), the instance commits a
claim in the database: producer, slot, the digest it is about to sign, the instance and its
fencing epoch, under a unique (producer, slot) key, refused for any slot at or below the
highest slot already claimed (the watermark) or above the operator's ceiling. Only after the
commit does it sign, and only while the slot lasts. A fallback (and a slot declared missed) is
a *fenced* claim: the database also checks that this instance holds the group's lease at its
epoch; any claim of a group instance needs its own heartbeat within the lease's lifetime. So an
instance paused past its lease acts on nothing it started when it resumes: by then its slot is
claimed by the others (below the watermark), over (too late), or its claim is fenced. The
watermark is raised at start to the newest pool block the chain knows, so a database restored
from an old backup cannot lead to a second signature.

No signature twice for a slot holds whatever the leases and the clocks do: two claims for one
slot serialize on the watermark row, and the second is refused (see :mod:`emitter.groupstore`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Engine

from chain.core import Block
from chain.core.crypto import DOMAIN_BLOCK, compute_signing_digest
from emitter import groupstore
from emitter.groupstore import CLAIMED, TOO_LATE, WON, ClaimRequest
from emitter.metrics import EmitterMetrics
from emitter.slotrun import Timing
from emitter.storage import StorageState
from service_shell.pgasync import AsyncWriter

log = logging.getLogger("bppool.emitter")

MISSED = "missed"  # the source of a claim that declares its slot missed (nothing signed)


def signing_digest(block: Block) -> str:
    """The 32 bytes the pool key signs for ``block`` (hex): sha256 of the block domain and the
    canonical header."""
    return compute_signing_digest(DOMAIN_BLOCK, block.header.canonical).hex()


@dataclass(frozen=True)
class ClaimResult:
    """The answer to a claim: ``outcome`` is ``won`` or why it was refused; ``claim`` is the
    slot's claim row when it has one (ours when won, the other instance's when ``claimed``)."""

    outcome: str
    claim: dict[str, Any] | None

    @property
    def won(self) -> bool:
        return self.outcome == WON


class Claims:
    """Claims this instance makes for the pool producer's slots."""

    def __init__(
        self,
        engine: Engine,
        storage: StorageState,
        *,
        producer: str,
        instance: str,
        timing: Timing,
        alive_within_ms: int | None,
        metrics: EmitterMetrics,
        writer: AsyncWriter | None = None,
    ) -> None:
        self.engine = engine
        self.storage = storage
        self.producer = producer
        self.instance = instance
        self.timing = timing
        self.alive_within_ms = alive_within_ms  # the heartbeat fence of a group instance
        self.metrics = metrics
        self.writer = writer  # PostgreSQL: claims awaited on a connection of their own
        # The newest pool block slot the nodes hold (learnt at start), and whether the
        # watermark stands above it: no claim is made before it does.
        self.chain_slot: int | None = None
        self._prepared = False

    def prepare(self) -> None:
        """The watermark row exists and stands above every recorded emission and the newest
        pool block the chain holds (:attr:`chain_slot`, once learnt). Blocking."""
        groupstore.ensure_signer(self.engine, producer=self.producer)
        if self.chain_slot:
            self.raise_to_chain(self.chain_slot)
        self._prepared = self.chain_slot is not None

    def slot_over(self, slot: int) -> bool:
        """``slot`` has ended on this instance's clock: nothing is claimed or signed for it."""
        return self.timing.clock.now_ms() >= self.timing.slot_start(slot) + self.timing.slot_ms

    async def claim_block(
        self, slot: int, block: Block, *, source: str, epoch: int, fenced: bool
    ) -> ClaimResult:
        """Claim ``slot`` for ``block`` (raises ``StorageUnavailable`` when the storage fails)."""
        return await self._claim(
            ClaimRequest(
                producer=self.producer,
                slot=slot,
                digest=signing_digest(block),
                block_id=block.id,
                source=source,
                builder=block.header.builder or None,
                instance=self.instance,
                epoch=epoch,
                fenced=fenced,
                alive_within_ms=self.alive_within_ms,
            )
        )

    async def claim_missed(self, slot: int, *, epoch: int) -> ClaimResult:
        """Declare ``slot`` missed (the lease holder only): nothing may be signed for it after."""
        return await self._claim(
            ClaimRequest(
                producer=self.producer,
                slot=slot,
                digest=None,
                block_id=None,
                source=MISSED,
                builder=None,
                instance=self.instance,
                epoch=epoch,
                fenced=True,
                alive_within_ms=self.alive_within_ms,
            )
        )

    async def _claim(self, request: ClaimRequest) -> ClaimResult:
        if self.chain_slot is None:
            raise RuntimeError("no claim before the newest pool block on the chain is known")
        if self.slot_over(request.slot):
            outcome, row = TOO_LATE, None
        else:
            with self.storage.writing():
                if not self._prepared:
                    self.prepare()
                if self.writer is not None:
                    outcome, row = await groupstore.claim_async(self.writer, self.engine.dialect, request)
                else:
                    outcome, row = groupstore.claim(self.engine, request)
        self.metrics.claims.labels(result=outcome).inc()
        if outcome != WON:
            # Lost to another instance: the group's everyday race. Anything else is news.
            log.log(
                logging.DEBUG if outcome == CLAIMED else logging.WARNING,
                "slot %d: claim refused (%s)%s",
                request.slot,
                outcome,
                f"; claimed by {row['instance']} for {row['block_id'] or 'nothing'}" if row else "",
            )
        return ClaimResult(outcome, row)

    def get(self, slot: int) -> dict[str, Any] | None:
        """The slot's claim, if any."""
        return groupstore.get_claim(self.engine, producer=self.producer, slot=slot)

    def raise_to_chain(self, slot: int) -> bool:
        """The chain holds a pool block at ``slot``: the watermark is at least that."""
        raised = groupstore.raise_watermark(self.engine, producer=self.producer, slot=slot, chain=True)
        if raised:
            log.warning("signing watermark raised to slot %d, the newest pool block the chain knows", slot)
        return raised

    def signer(self) -> dict[str, Any] | None:
        """The watermark row: ``watermark``, ``ceiling``, ``chain_slot``."""
        return groupstore.get_signer(self.engine, producer=self.producer)
