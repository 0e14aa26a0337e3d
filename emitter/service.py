"""The pool's block emitter: collect member candidates per pool slot, emit exactly one block.

``Emitter`` is the composition root: it builds the shared I/O (the replica of the chain, the
database, the event writer, the supervisor) and wires the parts, each in its own module:

- :mod:`emitter.group`: the group on a shared database (the lease; discovery of the others);
- :mod:`emitter.claims`: the signing guard (no signature without a committed claim);
- :mod:`emitter.slots`: the slot runner (open, wait, decide, fall back, close);
- :mod:`emitter.intake`: candidate intake and request authentication (pure checks in
  :mod:`emitter.core.intake`);
- :mod:`emitter.expected`: the block expected for the next slot, and the one validation memo;
- :mod:`emitter.emission`: the one emission path (sign -> record -> commit/push);
- :mod:`emitter.delivery`: node delivery (two-step push, push with failover, redelivery);
- :mod:`emitter.membership`: applications, member status, constitution, parameters.

Refusals are :mod:`emitter.errors`; ``emitter.api`` maps them to HTTP.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, Protocol

import httpx

from chain.client.decoding import BlockDecoder
from chain.client.follower import ChainFollower
from chain.client.genesis_file import load_genesis
from emitter.claims import Claims
from emitter.config import EmitterSettings
from emitter.context import Context
from emitter.delivery import Delivery
from emitter.emission import Emission
from emitter.eventlog import EventLogReader
from emitter.expected import ContentMemo, Expected, ExpectedBlocks
from emitter.faults import Faults
from emitter.group import Group
from emitter.intake import Intake
from emitter.logwriter import EventWriter
from emitter.membership import Membership, Policy
from emitter.metrics import EmitterMetrics, GroupReadings, Readings
from emitter.slotrun import SlotRun, Timing
from emitter.slots import SlotRunner
from emitter.storage import StorageState
from service_shell.clock import Clock, SystemClock
from service_shell.db import InstanceLock, WalCheckpointer, is_postgres, make_engine, run_migrations
from service_shell.events import Broadcaster
from service_shell.keys import read_key_file
from service_shell.pgasync import AsyncWriter
from service_shell.requestauth import RequestVerifier
from service_shell.supervisor import Supervisor

log = logging.getLogger("bppool.emitter")

MIGRATIONS = Path(__file__).parent / "migrations"
VERSION_TABLE = "alembic_version_emitter"
DEFAULT_CONSTITUTION = Path(__file__).parent / "constitution.md"


class Extension(Protocol):
    """What the service runs with it (the DAC): started after the service, stopped before;
    ``reload`` re-reads its shared state after another instance of the group changed it."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def reload(self) -> None: ...


class Emitter:
    """The emitter of one pool (one process; it owns the pool's producer key)."""

    def __init__(
        self,
        settings: EmitterSettings,
        *,
        clock: Clock | None = None,
        node_transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        self.genesis = load_genesis(settings.genesis)
        self.params = self.genesis.params
        if settings.cutoff_ms >= self.params.slot_ms:
            raise ValueError(
                f"cutoff_ms {settings.cutoff_ms} must be shorter than the slot ({self.params.slot_ms} ms)"
            )
        keyfile = read_key_file(settings.pool_key_file)
        self.pool = keyfile.account
        self.pool_key = keyfile.key
        self.chain_id = self.genesis.chain_id
        self.timing = Timing(self.clock, self.genesis.genesis_time, self.params.slot_ms)
        ctx = self._build_shell(node_transport)
        self.membership = Membership(
            ctx,
            chain_id=self.chain_id,
            request_skew_s=settings.request_skew_s,
            constitution_text=Path(settings.constitution_file or DEFAULT_CONSTITUTION).read_text(),
            policy=self.policy,
        )
        self._wire(ctx, node_transport)
        self.metrics.collect_from(
            Readings(
                pool=self.pool,
                members=lambda: self.membership.members,
                not_ready=self.not_ready,
                storage_ok=lambda: self.storage.ok,
                storage_errors=lambda: self.storage.errors,
                chain_state=lambda: self.follower.state,
                group=GroupReadings(
                    shared=self.group.shared,
                    leads=self.group.leads,
                    epoch=lambda: self.group.epoch,
                    size=lambda: self.group.size,
                    leaderless_seconds=self.group.leaderless_seconds,
                ),
            )
        )
        self.supervisor.register(self.metrics.registry)

    def _build_shell(self, node_transport: httpx.AsyncBaseTransport | None) -> Context:
        """The shared I/O: supervisor, replica, database, event writer, storage state, metrics."""
        settings = self.settings
        # Every background task runs under it: logged, counted and restarted on failure.
        self.supervisor = Supervisor()
        # The pool's own blocks are adopted as they are emitted: head events only name blocks,
        # and the replica fetches those of other producers (one request each time).
        self.follower = ChainFollower(
            self.genesis,
            settings.node_urls[0],
            transport=node_transport,
            clock=self.clock,
            stream_blocks=False,
            supervisor=self.supervisor,
        )
        # Emissions are written on the emission path: the log is checkpointed in the
        # background (WalCheckpointer), never by an emission's commit.
        self.engine = make_engine(settings.db_url, background_checkpoints=True)
        # On SQLite, one pool service per database file (taken at start, or by the CLI first)
        self.instance_lock = InstanceLock(settings.db_url, what="pool service")
        self.writer = EventWriter(self.engine, supervisor=self.supervisor)
        # Storage errors are a state of the service (see emitter.storage), not a crash.
        self.storage = StorageState(self.engine, VERSION_TABLE)
        self.faults = Faults.from_env()
        self.decoder = BlockDecoder(self.follower.mempool.tx_cache, self.params.max_block_transactions)
        self.event_log = EventLogReader(self.engine)
        # Extensions (the DAC) attach here: started and stopped with the emitter.
        self.extensions: list[Extension] = []
        self.feed = Broadcaster()
        self.verifier = RequestVerifier(
            chain_id=self.chain_id, clock=self.clock, skew_ms=settings.request_skew_s * 1000
        )
        self.policy = Policy(strategy=settings.strategy, fallback=settings.fallback)
        self.metrics = EmitterMetrics()
        # Several instances on one PostgreSQL database form a group; on SQLite it is one.
        self.group = Group(
            self.engine,
            instance=settings.instance,
            url=settings.url,
            shared=is_postgres(self.engine),
            ttl_ms=settings.lease_ttl_ms,
            renew_ms=settings.lease_renew_ms,
            metrics=self.metrics,
        )
        # PostgreSQL: the emission path's writes (claims, records) are awaited on a connection of
        # their own, so the loop takes other deliveries while the database commits.
        self.hot_writer = AsyncWriter(settings.db_url) if is_postgres(self.engine) else None
        self.claims = Claims(
            self.engine,
            self.storage,
            producer=self.pool,
            instance=settings.instance,
            timing=self.timing,
            alive_within_ms=settings.lease_ttl_ms if self.group.shared else None,
            metrics=self.metrics,
            writer=self.hot_writer,
        )
        return Context(
            self.pool,
            self.timing,
            self.follower,
            self.engine,
            self.storage,
            self.metrics,
            self.faults,
            self._spawn,
        )

    def _wire(self, ctx: Context, node_transport: httpx.AsyncBaseTransport | None) -> None:
        """Build the parts, each given the shared context and what else it uses."""
        settings, max_txs = self.settings, self.params.max_block_transactions
        self.delivery = Delivery(
            ctx,
            node_urls=settings.node_urls,
            push_timeout_s=settings.push_timeout_s,
            transport=node_transport,
            pool_key=self.pool_key,
            chain_id=self.chain_id,
            decoder=self.decoder,
            current_run=lambda: self.slots.run,
        )
        self.memo = ContentMemo(ctx)
        self.expectation = ExpectedBlocks(
            ctx,
            lead_ms=settings.expect_lead_ms,
            max_transactions=max_txs,
            memo=self.memo,
            decoder=self.decoder,
            delivery=self.delivery,
            open_slot=lambda: self.slots.run.slot if self.slots.run else 0,
        )
        self.emission = Emission(
            ctx,
            pool_key=self.pool_key,
            delivery=self.delivery,
            claims=self.claims,
            group=self.group,
            cutoff_ms=settings.cutoff_ms,
            strategy=lambda: self.policy.strategy,
            writer=self.hot_writer,
        )
        self.slots = SlotRunner(
            ctx,
            settings=settings,
            max_transactions=max_txs,
            feed=self.feed,
            policy=self.policy,
            membership=self.membership,
            expected=self.expectation,
            emission=self.emission,
            delivery=self.delivery,
            claims=self.claims,
            group=self.group,
        )
        self.intake = Intake(
            ctx,
            pool_public_key=self.pool_key.public_key,
            cutoff_ms=settings.cutoff_ms,
            runner=self.slots,
            memo=self.memo,
            delivery=self.delivery,
            decoder=self.decoder,
            verifier=self.verifier,
            membership=self.membership,
            writer=self.writer,
        )
        self.follower.listeners.append(self.slots.on_head_change)
        # Shared state another instance changed is read again; what changes here, they re-read.
        self.group.reload_listeners.append(self._reload_shared)
        self.membership.change_listeners.append(self._announce_change)
        self.storage.listeners.append(self.group.catch_up)
        self._expose()

    def _expose(self) -> None:
        """What the API, the CLI and the DAC (``pool_dac.host.PoolHost``) call on the service:
        the parts' own methods, bound once (no delegating call on the intake's hot path)."""
        self.submit_candidate = self.intake.submit_candidate
        self.authenticate_request = self.intake.authenticate_request
        self.apply = self.membership.apply
        self.set_status = self.membership.set_status
        self.set_constitution = self.membership.set_constitution
        self.set_member_constitution = self.membership.set_member_constitution
        self.set_parameter = self.membership.set_parameter
        self.pushers = self.delivery.pushers
        self.current_slot = self.timing.current_slot
        self.next_pool_slots = self.slots.next_pool_slots
        self.quiet_ms = self.slots.quiet_ms

    # --- lifecycle -------------------------------------------------------------------------

    def open_db(self) -> None:
        """Migrate the database, load the members and check that it takes writes (a service
        started on a read-only database is not ready until it does)."""
        run_migrations(self.engine, MIGRATIONS, VERSION_TABLE)
        self.membership.reload()
        self.storage.check()
        self.group.start()

    async def start(self) -> None:
        """Open the database, follow the node and run the slots (and the extensions)."""
        self.instance_lock.acquire()
        await asyncio.to_thread(self.open_db)
        self.writer.start()
        await self.delivery.raw_pool.fill()
        await self.follower.start()
        for extension in self.extensions:
            await extension.start()
        self.supervisor.supervise("group_lease", self.group.run)
        self.supervisor.supervise("slot_loop", self.slots.loop)
        self.supervisor.supervise("wal_checkpointer", WalCheckpointer(self.engine).run)
        self.supervisor.supervise("storage_watch", self.storage.watch)
        if self.settings.expect_lead_ms > 0:
            self.supervisor.supervise("expect_loop", self.expectation.loop)

    async def stop(self) -> None:
        """Stop everything started, extensions first."""
        self.slots.ready = False
        for extension in reversed(self.extensions):
            await extension.stop()
        await self.supervisor.stop()
        await asyncio.to_thread(self.group.stop)
        self.feed.close()
        await self.writer.stop()
        await self.delivery.close()
        if self.hot_writer is not None:
            await self.hot_writer.close()
        await self.follower.stop()
        self.engine.dispose()
        self.instance_lock.release()

    def _reload_shared(self) -> None:
        """Read the shared state again (blocking): members, and what the extensions keep."""
        self.membership.reload()
        for extension in self.extensions:
            extension.reload()

    def _announce_change(self) -> None:
        """Shared state changed here: the others reload (only the leader writes it; a follower
        that re-reads the leader's change has nothing to announce)."""
        if self.group.leads():
            self.group.changed()

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """A one-off task (a push, a prepare, warming connections): failures logged and counted."""
        return self.supervisor.spawn(getattr(coro, "__name__", "task").lstrip("_"), coro)

    def not_ready(self) -> dict[str, Any]:
        """Why the service is not ready, by reason (empty when ready): not started, the
        replica not following the node's canonical head, storage refusing writes, background tasks down."""
        reasons: dict[str, Any] = {}
        if not self.slots.ready:
            reasons["starting"] = "the replica is catching up with the node"
        lag = self.follower.lag()
        if lag is not None:
            reasons["following"] = lag
        if not self.storage.ok:
            reasons["storage"] = self.storage.describe()
        out_of_touch = self.group.out_of_touch()
        if out_of_touch is not None:
            reasons["group"] = out_of_touch
        reasons.update(self.supervisor.reasons())
        return reasons

    # --- what the API, the DAC and the tests read --------------------------------------------

    @property
    def ready(self) -> bool:
        """Slots are being run."""
        return self.slots.ready

    @property
    def run(self) -> SlotRun | None:
        """The open pool slot, if any."""
        return self.slots.run

    @property
    def last_closed_slot(self) -> int:
        """The last pool slot closed."""
        return self.slots.last_closed_slot

    @property
    def members(self) -> dict[str, dict[str, Any]]:
        """The members by account."""
        return self.membership.members

    @property
    def constitution_text(self) -> str:
        """The constitution members sign."""
        return self.membership.constitution_text

    @property
    def constitution_hash(self) -> str:
        """The sha256 of :attr:`constitution_text`."""
        return self.membership.constitution_hash

    @property
    def expected(self) -> Expected | None:
        """The block validated ahead for the next pool slot, if any."""
        return self.expectation.expected

    @property
    def strategy_name(self) -> str:
        """The selection strategy in force (a governed parameter)."""
        return self.policy.strategy

    @property
    def fallback(self) -> str:
        """The fallback in force (a governed parameter)."""
        return self.policy.fallback

    def leads(self) -> bool:
        """This instance holds the group's lease: it runs the fallbacks, the DAC's jobs and
        the admin writes (always true for the single instance on SQLite)."""
        return self.group.leads()

    @property
    def admission_by_vote(self) -> bool:
        """Whether admission is decided by a DAC vote (set by the DAC)."""
        return self.membership.admission_by_vote

    # --- extension points (the DAC, through the ``bppool.pool_extensions`` entry point) ---

    def add_extension(
        self, extension: Extension, *, on_application: Callable[[str], None], admission_by_vote: bool
    ) -> None:
        """Start and stop ``extension`` with the service, tell it of every application, and
        leave admission to it (``admission_by_vote``) instead of the admin."""
        self.extensions.append(extension)
        self.membership.application_hooks.append(on_application)
        self.membership.admission_by_vote = admission_by_vote

    def adopt_parameters(self, strategy: str, fallback: str) -> None:
        """Put a stored strategy and fallback in force from the next decision (at start: no
        parameter event, as nothing changed)."""
        self.policy.strategy, self.policy.fallback = strategy, fallback
