"""Node delivery: emitted blocks reach a node, however the nodes behave.

The two-step push: a member's candidate goes to the followed node as soon as it arrives
(``prepare``: the node validates it while the emitter does); once the emitter signs it,
only the block id and the pool's signature follow (``commit``). Without a prepared block,
or when the commit fails, the whole block is pushed to the nodes in turn until one takes it
(a node missing our earlier blocks gets those first, from the emission records). After a
restart, recorded emissions no node is known to have taken are pushed again.

Every read of a node's answer is bounded by ``push_timeout_s`` (raw connections by
``RawTimeout``, the clients by their timeout), and a node that stalls is tried last: the
failover to the next node URL always runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import httpx
import orjson

from chain.client.decoding import BlockDecoder
from chain.client.http import AsyncNodeClient, NodeError
from chain.core import Block, PrivateKey
from emitter import crud
from emitter.context import Context
from emitter.slotrun import SlotRun
from emitter.storage import StorageUnavailable
from pool_protocol.requests import request_headers
from service_shell.clock import monotonic_ms
from service_shell.rawhttp import RawConnection, RawHttpError, RawPool, RawTimeout

PREPARE_PATH = "/v1/node/prepare_block"
COMMIT_PATH = "/v1/node/commit_block"
log = logging.getLogger("bppool.emitter")


class Delivery:
    """Hands the pool's blocks to its nodes (``node_urls``, the first one followed)."""

    def __init__(
        self,
        ctx: Context,
        *,
        node_urls: list[str],
        push_timeout_s: float,
        transport: httpx.AsyncBaseTransport | None,
        pool_key: PrivateKey,
        chain_id: str,
        decoder: BlockDecoder,
        current_run: Callable[[], SlotRun | None],
    ) -> None:
        self.pushers = [AsyncNodeClient(u, transport=transport, timeout=push_timeout_s) for u in node_urls]
        self.transport = transport
        self.push_timeout_s = push_timeout_s
        # Bounded like every push: a node that stalls fails the two-step push within it.
        self.raw_pool = RawPool(node_urls[0], timeout=push_timeout_s)
        self.timing = ctx.timing
        self.pool = ctx.pool
        self.pool_key = pool_key
        self.chain_id = chain_id
        self.decoder = decoder
        self.follower = ctx.follower
        self.engine = ctx.engine
        self.storage = ctx.storage
        self.faults = ctx.faults
        self.metrics = ctx.metrics
        self.spawn = ctx.spawn
        self.current_run = current_run
        self._prepare_ms = 0  # the timestamp of the last prepare request signed

    async def close(self) -> None:
        """Close the raw connections and the clients."""
        self.raw_pool.close()
        for client in self.pushers:
            await client.aclose()

    # --- the two-step push -----------------------------------------------------------------

    def prepare_headers(self, body: bytes) -> dict[str, str]:
        """The pool key's signed headers for a prepare of ``body`` (a known list's body is
        hashed from its saved state: once a slot, not once a candidate). Each prepare gets a
        timestamp of its own, so a retry of the same body is a new request, not a replay."""
        self._prepare_ms = max(self.timing.clock.now_ms(), self._prepare_ms + 1)
        return request_headers(
            self.pool_key,
            self.pool,
            chain_id=self.chain_id,
            pool=self.pool,
            method="POST",
            path=PREPARE_PATH,
            timestamp=self._prepare_ms,
            body=body,
            body_sha256=self.decoder.body_sha256(body),
        )

    def start_prepare(self, body: bytes) -> asyncio.Task[bool | None]:
        """Have the followed node validate a candidate while we do (the two-step push).

        The request goes onto the wire right here, before our own validation starts: the node
        and the emitter then validate in parallel, on two cores.
        """
        headers = self.prepare_headers(body)
        conn = self.raw_pool.take()
        if conn is not None:
            conn.send("POST", PREPARE_PATH, body, headers)
            return self.spawn(self._prepared(conn))
        self.spawn(self.raw_pool.fill())  # warm for the next candidate

        async def prepare_by_client() -> bool | None:
            try:
                await self.pushers[0].prepare_block(body, headers)
            except NodeError as exc:
                log.debug("prepare refused: %s", exc)
                return None if exc.status == 0 else False
            return True

        return self.spawn(prepare_by_client())

    async def _prepared(self, conn: RawConnection) -> bool | None:
        """The prepare's answer, within the push timeout: ``True`` when the node prepared
        it, ``None`` when it did not answer in time. A failed or timed-out connection is
        closed by ``response`` and not given back."""
        try:
            response = await conn.response()
        except RawTimeout as exc:
            self.metrics.push_failures.labels(node=self.raw_pool.base_url).inc()
            log.warning("prepare: %s", exc)
            return None
        except RawHttpError as exc:
            log.debug("prepare failed: %s", exc)
            return False
        finally:
            self.spawn(self.raw_pool.fill())
        self.raw_pool.give_back(conn)
        return response.status == 200

    def start_commit(self, signed: Block) -> RawConnection | None:
        """Send the commit (block id and our signature) now, on a warm raw connection; the
        node answers it after the prepare it received earlier."""
        conn = self.raw_pool.take()
        if conn is None:
            return None
        body = orjson.dumps({"block_id": signed.id, "producer_signature": signed.producer_signature})
        conn.send("POST", COMMIT_PATH, body, {})
        return conn

    async def deliver(
        self,
        slot: int,
        signed: Block,
        data: bytes,
        prepare: asyncio.Task[bool | None] | None,
        commit: RawConnection | None,
        started_ms: float | None,
    ) -> None:
        """Finish the two-step push (prepared + committed), or push the whole block. The
        raw prepare and commit are bounded by the push timeout; when the followed node stalls
        on them the full push tries the other ``node_urls`` first."""
        prepared: bool | None = False
        stalled = False
        if prepare is not None:
            try:
                prepared = await prepare
            except Exception:
                prepared = False
            stalled = prepared is None
        if prepared:
            committed = False
            if commit is not None:
                try:
                    response = await commit.response()
                    committed = response.status == 200
                    self.raw_pool.give_back(commit)
                except RawTimeout:
                    self.metrics.push_failures.labels(node=self.raw_pool.base_url).inc()
                    log.warning("slot %d: no answer to the commit within the push timeout", slot)
                    stalled = True
                except RawHttpError as exc:
                    log.info("slot %d: commit failed (%s); pushing the block", slot, exc)
            else:
                committed, stalled = await self._commit_by_client(slot, signed)
            self.spawn(self.raw_pool.fill())
            if committed:
                if started_ms is not None:
                    self.metrics.emit_seconds.observe((monotonic_ms() - started_ms) / 1000)
                self.metrics.deliveries.labels(method="commit").inc()
                self.accepted(slot, self.pushers[0].base_url)
                log.info("slot %d: block %s committed", slot, signed.id[:16])
                return
        elif commit is not None:
            # Nothing was prepared: the commit will be refused. Its answer is not waited for
            # (a stalled node would hold the delivery); closed, the connection is not reused.
            commit.close()
        # A node that stalled gets the block last, not first: each try of it costs a timeout.
        await self.push(data, slot, started_ms, first_node=1 if stalled else 0)

    async def _commit_by_client(self, slot: int, signed: Block) -> tuple[bool, bool]:
        """The commit sent by the client (no warm raw connection was at hand): whether the
        node took the block, and whether it stalled (no answer within the push timeout)."""
        try:
            await self.pushers[0].commit_block(signed.id, signed.producer_signature)
        except NodeError as exc:
            log.info("slot %d: commit refused (%s); pushing the block", slot, exc)
            return False, exc.status == 0
        return True, False

    # --- the full push ---------------------------------------------------------------------

    async def push(self, data: bytes, slot: int, started_ms: float | None, first_node: int = 0) -> None:
        """Push to the nodes in turn (from ``first_node``, wrapping round) until one takes the
        block: at least once, and for three slots from now even when we are late. Each push is
        bounded by the push timeout. A node missing one of our earlier blocks
        (``unknown_parent``) first gets those from the emission records."""
        clock = self.timing.clock
        deadline = max(self.timing.slot_start(slot), clock.now_ms()) + 3 * self.timing.slot_ms
        backoff = 0.02
        first = True
        start = first_node % len(self.pushers)
        order = self.pushers[start:] + self.pushers[:start]
        while first or clock.now_ms() < deadline:
            first = False
            for client in order:
                try:
                    result = await client.push_block(data)
                except NodeError as exc:
                    if exc.status in (0, 502, 503, 504):
                        self.metrics.push_failures.labels(node=client.base_url).inc()
                        continue
                    if exc.code == "unknown_parent":
                        await self.push_ancestors(client, data)
                        continue
                    self.metrics.push_failures.labels(node=client.base_url).inc()
                    log.error("node %s refused the block for slot %d: %s", client.base_url, slot, exc)
                    return
                if started_ms is not None:
                    self.metrics.emit_seconds.observe((monotonic_ms() - started_ms) / 1000)
                self.metrics.deliveries.labels(method="push").inc()
                self.accepted(slot, client.base_url)
                log.info(
                    "slot %d: block %s %s by %s",
                    slot,
                    result["block_id"][:16],
                    result["status"],
                    client.base_url,
                )
                return
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 0.2)
        log.error("slot %d: no node took the block before the deadline", slot)

    def accepted(self, slot: int, node_url: str) -> None:
        """Note which node took the slot's block: recorded with the slot's outcome when it
        closes (off its deliveries), or now when it is closed already."""
        self.faults.hit("deliver.after_accept", slot)
        run = self.current_run()
        if run is not None and run.slot == slot and not run.closed:
            run.accepted_by = node_url
            return
        # Unrecorded, a restart pushes the block again: the node says it has it already.
        with contextlib.suppress(StorageUnavailable), self.storage.writing():
            crud.mark_accepted(self.engine, slot=slot, node_url=node_url)

    async def push_ancestors(self, client: AsyncNodeClient, data: bytes, depth: int = 12) -> None:
        """Push the recorded emissions the node lacks below ``data``'s block, oldest first."""
        missing: list[bytes] = []
        prev_id = orjson.loads(data)["header"]["prev_id"]
        while len(missing) < depth:
            recorded = crud.get_emission_by_block(self.engine, block_id=prev_id)
            if recorded is None:
                break
            missing.append(bytes(recorded["data"]))
            prev_id = orjson.loads(recorded["data"])["header"]["prev_id"]
        for block in reversed(missing):
            with contextlib.suppress(NodeError):
                await client.push_block(block)

    async def newest_pool_slot(self) -> int | None:
        """The highest slot of a pool block any of the nodes holds (on any branch; -1 when
        none holds one), or ``None`` when no node answered. Asked on connections of its own
        (the pushers' stay for deliveries)."""
        clients = [
            AsyncNodeClient(p.base_url, transport=self.transport, timeout=self.push_timeout_s)
            for p in self.pushers
        ]
        try:
            answers = await asyncio.gather(
                *(client.producer_last_block(self.pool) for client in clients), return_exceptions=True
            )
        finally:
            for client in clients:
                await client.aclose()
        newest: int | None = None
        for client, answer in zip(clients, answers, strict=True):
            if isinstance(answer, BaseException):
                if not isinstance(answer, NodeError):
                    raise answer
                log.warning("node %s: no answer on the pool's newest block: %s", client.base_url, answer)
                continue
            slot = answer.get("slot")
            newest = max(newest if newest is not None else -1, slot if isinstance(slot, int) else -1)
        return newest

    async def redeliver(self) -> None:
        """After a restart: push again the recorded emissions no node is known to have taken,
        oldest first, while each still extends the chain (its parent is the head, its slot
        after the head's). One the chain has gone past stays off it: pushing it would fork."""
        try:
            with self.storage.writing():
                rows = crud.unaccepted_emissions(self.engine, after_slot=self.follower.state.slot)
        except StorageUnavailable:
            return
        for row in rows:
            data = bytes(row["data"])
            header = orjson.loads(data)["header"]
            state = self.follower.state
            if header["prev_id"] != state.head_id or row["slot"] <= state.slot:
                log.warning(
                    "slot %d: recorded block %s was never taken and no longer extends the chain",
                    row["slot"],
                    row["block_id"][:16],
                )
                continue
            log.info(
                "slot %d: pushing recorded block %s again (no node had taken it)",
                row["slot"],
                row["block_id"][:16],
            )
            await self.push(data, row["slot"], None)
            self.faults.hit("recovery.after_push", row["slot"])
            await self.follower.sync()
