"""The member daemon: listen to the pool's slot feed, build, deliver as fast as possible.

Per slot it logs one line (``slot 1234: selected, delivered 18 ms after open``) and counts
delivery latency, wins and rejections by reason on its own ``/metrics``.

When the pool service goes away (a restart), the daemon tries again every 150-250 ms (random
jitter, so members do not arrive in lockstep) until it answers, so it is back on the feed
within a fraction of a second of the service; a slot already open then (the feed's ``hello``
names it) is delivered too. When the service answers with an error instead, the retries back
off exponentially up to 5 s.

With an emitter group (``emitter_urls``: every instance), the daemon follows the feed of one
instance (members spread over the instances by account, so losing one instance moves only its
share) and delivers to it. When that instance dies, the daemon moves to the next one at once,
whose feed's ``hello`` names the slot still open; a delivery the dead instance did not answer
goes to the next instance that answers, within the same slot. An answer naming the block the
slot got (``emitted_block_id``) tells a win even when another instance emitted it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import zlib
from dataclasses import replace
from typing import Any

import httpx
from prometheus_client import CollectorRegistry, Gauge

from chain.client.follower import ChainFollower
from chain.client.genesis_file import load_genesis
from chain.client.http import NodeError
from chain.core import Block
from chain.core.types import Hash32
from producer_client.builder import CandidateError, build_candidate
from producer_client.client import Client, PoolError
from producer_client.config import ProducerSettings
from service_shell.clock import Clock, SystemClock, monotonic_ms
from service_shell.keys import read_key_file
from service_shell.metrics import counter, histogram
from service_shell.supervisor import Supervisor

log = logging.getLogger("bppool.producer")

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 1.0)
# Retries while the pool service does not answer (down, restarting): quick, with jitter.
RECONNECT_S = (0.15, 0.25)
# Retries while it answers with an error: exponential backoff, from the first to the last.
BACKOFF_S = (0.2, 5.0)
# While reconnecting, one warning at the first failure, then at most one per this many seconds.
RECONNECT_LOG_EVERY_S = 10.0


class ProducerMetrics:
    """The member daemon's metrics in their own registry (served on its ``/metrics``)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.delivery_seconds = histogram(
            r,
            "bppool_producer_delivery_seconds",
            "From the slot opening to the pool's answer to our candidate.",
            buckets=LATENCY_BUCKETS,
        )
        self.build_seconds = histogram(
            r, "bppool_producer_build_seconds", "Time to build and sign a candidate.", buckets=LATENCY_BUCKETS
        )
        self.deliveries = counter(
            r,
            "bppool_producer_deliveries",
            "Candidates delivered, by result.",
            ["result"],
            known=("selected", "valid", "rejected"),
        )
        self.wins = counter(r, "bppool_producer_wins", "Our candidates the pool emitted.")
        self.rejections = counter(
            r, "bppool_producer_rejections", "Candidates refused, by reason.", ["reason"]
        )
        self.skipped = counter(
            r,
            "bppool_producer_slots_skipped",
            "Slots not delivered, by cause.",
            ["cause"],
            known=("simulated_failure", "behind", "build_failed"),
        )
        self.connected = Gauge(
            "bppool_producer_connected", "1 while subscribed to the slot feed.", registry=r
        )
        self.feed_connects = counter(
            r, "bppool_producer_feed_connects", "Subscriptions to the slot feed (1 + reconnections)."
        )


class ProducerDaemon:
    """One pool member."""

    def __init__(
        self,
        settings: ProducerSettings,
        *,
        clock: Clock | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        keyfile = read_key_file(settings.key_file)
        self.account = keyfile.account
        self.key = keyfile.key
        self.genesis = load_genesis(settings.genesis)
        # Every background task runs under it: logged, counted and restarted on failure.
        self.supervisor = Supervisor()
        self.follower = ChainFollower(
            self.genesis, settings.node_url, transport=transport, clock=self.clock, supervisor=self.supervisor
        )
        urls = settings.emitters
        # Every instance of the pool's emitter group; the feed of one is followed at a time.
        self.clients = [
            Client(url, account=self.account, key=self.key, clock=self.clock, transport=transport)
            for url in urls
        ]
        self.current = zlib.crc32(self.account.encode()) % len(self.clients)
        self.metrics = ProducerMetrics()
        self.supervisor.register(self.metrics.registry)
        self.rng = rng or random.Random()
        self.pool: str | None = None
        self.results: list[tuple[int, str]] = []
        self._delivering: tuple[int, str] | None = None  # the last (slot, parent) delivered for

    async def start(self) -> None:
        await self.follower.start()

    @property
    def client(self) -> Client:
        """The client of the instance whose feed is followed."""
        return self.clients[self.current]

    async def stop(self) -> None:
        await self.supervisor.stop()
        await self.follower.stop()
        for client in self.clients:
            await client.aclose()

    async def ensure_member(self) -> str:
        """This member's status, applying first when allowed and needed."""
        try:
            me = await self.client.me()
            return str(me["status"])
        except PoolError as exc:
            if exc.code != "unknown_member" or not self.settings.auto_apply:
                raise
        result = await self.client.apply(self.settings.endpoint)
        log.info("applied to the pool as %s: %s", self.account, result["status"])
        return str(result["status"])

    async def run(self) -> None:
        """Follow the chain and the slot feed until cancelled (the feed loop runs under the
        supervisor as ``slot_feed``, each delivery as ``deliver``)."""
        await self.start()
        await self.supervisor.supervise("slot_feed", self._feed_loop)

    async def _feed_loop(self) -> None:
        await self.follower.synced.wait()
        refusals = 0  # consecutive answers with an error
        failing_since: float | None = None
        logged_at = 0.0
        tried = 0  # instances tried in a row without getting onto a feed
        while True:
            client = self.client
            try:
                info = await client.info()
                self.pool = info["pool"]
                status = await self.ensure_member()
                if status != "active":
                    log.info("member %s is %s; waiting to be admitted", self.account, status)
                    await asyncio.sleep(1.0)
                    continue
                async for event, data in client.slot_feed():
                    if event == "hello":
                        self.metrics.connected.set(1)
                        self.metrics.feed_connects.inc()
                        if failing_since is not None:
                            log.info(
                                "slot feed: on %s after %.0f ms",
                                client.base_url,
                                monotonic_ms() - failing_since,
                            )
                        refusals, failing_since, logged_at, tried = 0, None, 0.0, 0
                        opened = data.get("open")
                        if (
                            isinstance(opened, dict)
                            and not opened.get("emitted")
                            and self.clock.now_ms() < int(opened.get("deadline_ms", 0))
                        ):
                            self._open(opened)  # a slot open already: deliver for it too
                    elif event == "slot_open":
                        self._open(data)
                detail: object = "the stream ended"
                delay = self.rng.uniform(*RECONNECT_S)
            except asyncio.CancelledError:
                raise
            except PoolError as exc:
                detail = exc
                if exc.status in (0, 503):  # no answer, or not ready: down or restarting
                    delay = self.rng.uniform(*RECONNECT_S)
                else:  # it answers, with an error: back off
                    refusals += 1
                    delay = min(BACKOFF_S[0] * 2 ** (refusals - 1), BACKOFF_S[1])
            except (httpx.HTTPError, OSError) as exc:
                # No answer: the service is down or restarting; it is back any moment.
                detail, delay = exc, self.rng.uniform(*RECONNECT_S)
            self.metrics.connected.set(0)
            if len(self.clients) > 1:
                # Another instance of the group at once; a pause once every one was tried.
                self.current = (self.current + 1) % len(self.clients)
                tried += 1
                if tried < len(self.clients):
                    delay = 0.0
                else:
                    tried = 0
            now = monotonic_ms()
            if failing_since is None:
                failing_since = now
            if now - logged_at >= RECONNECT_LOG_EVERY_S * 1000:
                logged_at = now
                log.warning(
                    "slot feed of %s: %s; trying %s (down for %.0f ms)",
                    client.base_url,
                    str(detail) or type(detail).__name__,
                    self.client.base_url if self.client is not client else f"again every {delay:.2f} s",
                    now - failing_since,
                )
            await asyncio.sleep(delay)

    def _open(self, opened: dict[str, Any]) -> None:
        """Deliver for an opened slot, once per slot and parent (the feed's ``hello`` and its
        ``slot_open`` may name the same)."""
        key = (int(opened["slot"]), str(opened["prev_id"]))
        if key != self._delivering:
            self._delivering = key
            self.supervisor.spawn("deliver", self.deliver(opened))

    async def deliver(self, opened: dict[str, Any]) -> str:
        """Build and deliver our candidate for an opened slot; returns the outcome."""
        slot = int(opened["slot"])
        started = monotonic_ms()
        mode = self._failure_mode()
        if mode == "skip":
            self.metrics.skipped.labels(cause="simulated_failure").inc()
            return self._report(slot, "skipped (simulated failure)", started)
        built = await self._build(opened, slot)
        if isinstance(built, str):
            return self._report(slot, built, started)
        block = built
        if mode == "garbage":
            # A deliberately broken candidate (the devnet's failure simulation).
            broken = replace(block.header, state_root=Hash32("00" * 32))
            block = Block(broken, block.transactions).signed_by_builder(self.key)
        settings = self.settings
        delay = settings.delay_ms + (self.rng.randint(0, settings.jitter_ms) if settings.jitter_ms else 0)
        if delay:
            await asyncio.sleep(delay / 1000)
        deadline = int(opened.get("deadline_ms", 0)) or self.clock.now_ms()
        return self._report(slot, await self._submit(block, started, deadline), started)

    def _failure_mode(self) -> str:
        """``honest``, or the simulated failure of this slot: ``skip`` or ``garbage``."""
        if self.rng.random() < self.settings.failure_rate:
            return "skip" if self.rng.random() < 0.5 else "garbage"
        return "honest"

    async def _build(self, opened: dict[str, Any], slot: int) -> Block | str:
        """Our candidate for the opened slot, or why we skip it."""
        # The replica must hold the slot's parent before we build on it.
        for _ in range(100):
            if self.follower.state.head_id == opened["prev_id"]:
                break
            await asyncio.sleep(0.002)
        # The emitter validated ahead the block of the mempool's transactions numbered up to
        # ``tx_seq``: build exactly that selection, so it judges ours by signatures alone.
        tx_seq = opened.get("tx_seq")
        tx_seq = tx_seq if isinstance(tx_seq, int) and not isinstance(tx_seq, bool) else None
        if tx_seq is not None and self.follower.mempool.last_seq < tx_seq:
            with contextlib.suppress(NodeError, httpx.HTTPError):
                await self.follower.poll_mempool()  # our mirror is behind the emitter's
        max_transactions = self.settings.max_transactions
        async with self.follower.lock:
            state = self.follower.state
            if state.head_id != opened["prev_id"]:
                self.metrics.skipped.labels(cause="behind").inc()
                return "skipped (our node is behind the pool's head)"
            build_started = monotonic_ms()
            try:
                candidate = build_candidate(
                    state,
                    slot=slot,
                    pool=str(opened["pool"]),
                    builder=self.account,
                    key=self.key,
                    transactions=self.follower.mempool.select(state, max_transactions, max_seq=tx_seq),
                    sig_cache=self.follower.sig_cache,
                    max_transactions=max_transactions,
                )
            except CandidateError as exc:
                self.metrics.skipped.labels(cause="build_failed").inc()
                return f"skipped ({exc})"
            self.metrics.build_seconds.observe((monotonic_ms() - build_started) / 1000)
        return candidate.block

    async def _submit(self, block: Block, started: float, deadline_ms: int) -> str:
        """Deliver ``block`` to the pool; the outcome as the log says it. An instance that
        does not answer (or is not ready) hands the delivery to the next that does, until
        the slot's deadline."""
        result: dict[str, Any] | None = None
        failed: PoolError | None = None
        order = self.clients[self.current :] + self.clients[: self.current]
        for client in order:
            try:
                result = await client.submit_candidate(block)
                break
            except PoolError as exc:
                failed = exc
                retry = exc.status in (0, 503) and len(order) > 1 and self.clock.now_ms() < deadline_ms
                if not retry:
                    break
                log.info(
                    "slot %d: %s did not take it (%s); delivering to the next instance",
                    block.slot,
                    client.base_url,
                    exc.code,
                )
        if result is None:
            assert failed is not None
            self.metrics.deliveries.labels(result="rejected").inc()
            self.metrics.rejections.labels(reason=failed.code).inc()
            return f"rejected {failed.code}: {failed.message}"
        self.metrics.delivery_seconds.observe((monotonic_ms() - started) / 1000)
        if result["selected"] or result.get("emitted_block_id") == block.id:
            self.metrics.wins.inc()
            self.metrics.deliveries.labels(result="selected").inc()
            return f"selected, {len(block.transactions)} txs, offset {result['offset_ms']} ms"
        self.metrics.deliveries.labels(result="valid").inc()
        return f"valid, not selected, offset {result['offset_ms']} ms"

    def _report(self, slot: int, outcome: str, started: float) -> str:
        log.info("slot %d: %s (%.0f ms after open)", slot, outcome, monotonic_ms() - started)
        self.results.append((slot, outcome))
        del self.results[:-1000]
        return outcome
