"""The emitter group: several instances of the pool service on one PostgreSQL database.

Every instance takes member candidates, serves the slot feed and may win a slot's claim (see
:mod:`emitter.claims`: safety lives there, in the database, not here). The lease decides the
one instance that runs fallbacks, the DAC's scheduled jobs and admin writes: a row with its
holder, a fencing epoch and an expiry on the database's clock, renewed every
``lease_renew_ms`` (TTL ``lease_ttl_ms``). Whoever finds it free or expired takes it with a
new epoch. The holder stops believing it leads a little before the database would let another
take over, and whatever it does as leader that signs (a fallback) is a fenced claim, checked
against the lease inside the database: a holder paused past its lease cannot act on it.

Each round also notes the instance alive (``pool_instance``: the group's members are
discovered through the database) and reads the lease's ``generation``, which the leader raises
whenever shared state changes (members, parameters, constitution): the others then reload.

On SQLite the service is a single instance (the file's instance lock keeps others out): it
takes the lease at start, for good, with a new epoch.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable

from sqlalchemy.engine import Engine

from emitter import leasestore
from emitter.leasestore import LeaseView
from emitter.metrics import EmitterMetrics
from service_shell.clock import monotonic_ms

log = logging.getLogger("bppool.emitter")

RELOAD_EVERY_MS = 5000  # a follower reloads shared state at least this often, changed or not
FAILURE_LOG_EVERY_MS = 10_000  # failed rounds: one warning at the first, then at most this often


class Group:
    """This instance's place in the group: whether it leads, at which epoch, and who does."""

    def __init__(
        self,
        engine: Engine,
        *,
        instance: str,
        url: str,
        shared: bool,
        ttl_ms: int,
        renew_ms: int,
        metrics: EmitterMetrics,
    ) -> None:
        self.engine = engine
        self.instance = instance
        self.url = url
        self.shared = shared  # a group on PostgreSQL (else the single instance on SQLite)
        self.ttl_ms = ttl_ms
        self.renew_ms = renew_ms
        self.metrics = metrics
        self.pid = os.getpid()
        self.started_ms = int(time.time() * 1000)
        self.view: LeaseView | None = None
        self.epoch = 0  # our fencing epoch while we hold the lease (0: we do not)
        self._lead_until = 0.0  # monotonic ms: we stop believing we lead then
        self._generation: int | None = None
        self._reloaded_at = 0.0
        self._leaderless_since: float | None = None
        self.reload_listeners: list[Callable[[], None]] = []
        self.leadership_listeners: list[Callable[[bool], None]] = []
        self.failovers = 0
        self._last_round_ms: float | None = None  # monotonic: the last round that went through
        self._joined = False  # the lease row is known to exist
        self._round_lock = threading.RLock()  # rounds run in worker threads
        self._failed_rounds = 0
        self._failure_logged_ms = -float(FAILURE_LOG_EVERY_MS)

    # --- what the others ask ---------------------------------------------------------------

    def leads(self) -> bool:
        """This instance holds the lease now, as far as it knows (the database has the last
        word on anything that signs)."""
        return self.epoch > 0 and monotonic_ms() < self._lead_until

    @property
    def holder(self) -> str | None:
        """The instance holding the lease at the last round (``None``: nobody)."""
        view = self.view
        return view.holder if view is not None and view.held else None

    @property
    def holder_url(self) -> str | None:
        """The URL the holder serves on (where admin writes go)."""
        view = self.view
        return view.holder_url if view is not None and view.held else None

    @property
    def size(self) -> int:
        """Instances seen alive at the last round."""
        return self.view.instances if self.view is not None else 1

    def leaderless_seconds(self) -> float:
        """How long the group has had no lease holder, as this instance saw it (0: it has one)."""
        if self._leaderless_since is None:
            return 0.0
        return (monotonic_ms() - self._leaderless_since) / 1000

    # --- life cycle ------------------------------------------------------------------------

    def start(self) -> None:
        """Join (blocking; call from a worker thread): the single instance takes the lease for
        good, a group instance runs its first round. A database that refuses (read-only, out
        of reach) is not fatal: :meth:`run` joins once it takes writes."""
        try:
            self._join()
        except Exception as exc:
            log.warning("could not join the group yet: %s", _first_line(exc))

    def _join(self) -> None:
        with self._round_lock:
            self._join_now()

    def _join_now(self) -> None:
        if not self._joined:
            leasestore.ensure_lease(self.engine)
            self._joined = True
        if self.shared:
            self.round()
        elif self.epoch == 0:
            view = leasestore.take_lease_for_good(
                self.engine, instance=self.instance, url=self.url, pid=self.pid, started_ms=self.started_ms
            )
            self._last_round_ms = monotonic_ms()
            self._observe(view, monotonic_ms())

    async def run(self) -> None:
        """A round every ``renew_ms`` (cancel to stop); the single instance only joins, once.
        A round that fails (the database refuses or is out of reach) is counted; a lease
        that cannot be renewed lapses on its own."""
        while True:
            if not self.shared and self.epoch > 0:
                return
            started = monotonic_ms()
            # A round in its worker thread runs to its end even when the task is cancelled
            # (a stop): its connection goes back to the pool before the pool is closed.
            round_ = asyncio.ensure_future(asyncio.to_thread(self._join))
            try:
                await asyncio.shield(round_)
            except asyncio.CancelledError:
                with contextlib.suppress(Exception):
                    await round_
                raise
            except Exception as exc:
                self._round_failed(exc)
            period = self.renew_ms if self.shared else 1000
            await asyncio.sleep(max(period - (monotonic_ms() - started), 10) / 1000)

    def stop(self) -> None:
        """Hand the lease over at once on a clean stop (blocking)."""
        if self.shared and self.epoch > 0:
            try:
                leasestore.release_lease(self.engine, instance=self.instance, epoch=self.epoch)
            except Exception as exc:  # the database is gone: the lease lapses on its own
                log.warning("could not release the lease: %s", exc)
        self._set_epoch(0)

    # --- rounds ----------------------------------------------------------------------------

    def round(self) -> None:
        """One round: alive, renew or take the lease, read the group (blocking; one at a time)."""
        with self._round_lock:
            self._round()

    def catch_up(self, ok: bool) -> None:
        """The storage works again: join or run a round now, not at the next tick (blocking)."""
        if not ok:
            return
        try:
            self._join()
        except Exception as exc:
            self._round_failed(exc)

    def _round(self) -> None:
        started = monotonic_ms()
        view = leasestore.lease_round(
            self.engine,
            instance=self.instance,
            url=self.url,
            pid=self.pid,
            started_ms=self.started_ms,
            epoch=self.epoch,
            ttl_ms=self.ttl_ms,
            seen_within_ms=3 * self.ttl_ms,
        )
        self._last_round_ms = monotonic_ms()
        self._observe(view, started)

    def out_of_touch(self) -> str | None:
        """Why this instance is out of touch with the group (no round went through for two
        lease lifetimes), or ``None``."""
        if not self.shared:
            return None
        if self._last_round_ms is None:
            return "has not joined the group yet"
        quiet = monotonic_ms() - self._last_round_ms
        if quiet > 2 * self.ttl_ms:
            return f"no round with the group's database for {quiet / 1000:.1f} s"
        return None

    def _observe(self, view: LeaseView, started: float) -> None:
        had, previous = self.epoch, self.view
        self.view = view
        now = monotonic_ms()
        if view.held:
            self._leaderless_since = None
        elif self._leaderless_since is None:
            self._leaderless_since = now
        if view.held and view.holder == self.instance:
            # Believed until a margin before the database's expiry: the round started before
            # the database stamped the lease, so this is earlier than that expiry in real time.
            self._lead_until = started + (view.expires_ms - view.now_ms) - self.renew_ms / 5
            if had != view.epoch:
                if previous is not None and previous.holder not in (None, self.instance):
                    self.failovers += 1
                    self.metrics.failovers.inc()
                log.warning(
                    "instance %s leads the group (epoch %d, %d instance(s))",
                    self.instance,
                    view.epoch,
                    view.instances,
                )
            self._set_epoch(view.epoch)
        else:
            if had:
                self.metrics.lease_renewals_failed.inc()
                log.warning(
                    "instance %s no longer leads (the lease is %s's, epoch %d)",
                    self.instance,
                    view.holder or "nobody",
                    view.epoch,
                )
            self._set_epoch(0)
        self._reload_if_changed(view.generation, now)

    def _round_failed(self, exc: Exception) -> None:
        self._failed_rounds += 1
        now = monotonic_ms()
        if now - self._failure_logged_ms >= FAILURE_LOG_EVERY_MS:
            self._failure_logged_ms = now
            log.warning("group round failed (%d so far): %s", self._failed_rounds, _first_line(exc))
        if self.epoch:
            self.metrics.lease_renewals_failed.inc()
            if not self.leads():
                log.warning("instance %s no longer leads: the lease could not be renewed", self.instance)
                self._set_epoch(0)
        if self._leaderless_since is None and not self.leads():
            self._leaderless_since = monotonic_ms()

    def _set_epoch(self, epoch: int) -> None:
        was = self.epoch > 0
        self.epoch = epoch
        if not epoch:
            self._lead_until = 0.0
        if was != (epoch > 0):
            for listener in list(self.leadership_listeners):
                try:
                    listener(epoch > 0)
                except Exception:
                    log.exception("leadership listener failed")

    def _reload_if_changed(self, generation: int, now: float) -> None:
        changed = self._generation is not None and generation != self._generation
        stale = self.shared and now - self._reloaded_at >= RELOAD_EVERY_MS
        first = self._generation is None
        self._generation = generation
        if first:
            self._reloaded_at = now
            return
        if changed or stale:
            self._reloaded_at = now
            self.reload()

    def reload(self) -> None:
        """Reload shared state now (blocking): the members, the DAC's parameters and
        constitution, as the leader last wrote them."""
        for listener in list(self.reload_listeners):
            try:
                listener()
            except Exception:
                log.exception("reload of shared state failed")

    def changed(self) -> None:
        """Shared state changed here (blocking): the others reload at their next round."""
        if self.shared:
            leasestore.bump_generation(self.engine)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
