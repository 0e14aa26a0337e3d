"""Data access for the emitter group's lease and instances: who holds the lease (its fencing
epoch, its expiry on the database's clock), which instances are alive, and the generation of
the shared state. Keyword-only functions; nothing here knows about HTTP.

Every time that decides something is the database's clock, read in the transaction that
decides (see :mod:`emitter.groupstore`, which holds the claims that the lease fences).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.engine import Connection, Engine

from emitter.groupstore import INSTANCE, LEASE, LEASE_NAME, db_now, dialect_insert

FOREVER_MS = 2**62  # a lease that never expires (the single instance on SQLite)


def ensure_lease(engine: Engine) -> None:
    """Create the lease row (free, epoch 0) when missing."""
    with engine.begin() as conn:
        conn.execute(
            dialect_insert(conn.dialect, LEASE)
            .values(
                name=LEASE_NAME,
                holder=None,
                holder_url=None,
                epoch=0,
                expires_ms=0,
                renewed_ms=0,
                generation=0,
            )
            .on_conflict_do_nothing(index_elements=["name"])
        )


@dataclass(frozen=True)
class LeaseView:
    """The lease as one instance's round saw it, with the database's clock then."""

    holder: str | None
    holder_url: str | None
    epoch: int
    expires_ms: int
    generation: int
    now_ms: int
    instances: int  # instances seen within the liveness horizon

    @property
    def held(self) -> bool:
        """Some instance holds an unexpired lease."""
        return self.holder is not None and self.expires_ms > self.now_ms


def _seen(conn: Connection, *, instance: str, url: str, pid: int, started_ms: int) -> int:
    """Note ``instance`` alive now (the database's clock, returned)."""
    now = db_now(conn)
    conn.execute(
        dialect_insert(conn.dialect, INSTANCE)
        .values(instance=instance, url=url, pid=pid, started_ms=started_ms, seen_ms=now)
        .on_conflict_do_update(
            index_elements=["instance"],
            set_={"url": url, "pid": pid, "started_ms": started_ms, "seen_ms": now},
        )
    )
    return now


def _view(conn: Connection, now: int, instances: int) -> LeaseView:
    """The lease as it stands in ``conn``'s transaction."""
    lease = conn.execute(select(LEASE).where(LEASE.c.name == LEASE_NAME)).mappings().one()
    return LeaseView(
        holder=lease["holder"],
        holder_url=lease["holder_url"],
        epoch=int(lease["epoch"]),
        expires_ms=int(lease["expires_ms"]),
        generation=int(lease["generation"]),
        now_ms=now,
        instances=instances,
    )


def lease_round(
    engine: Engine,
    *,
    instance: str,
    url: str,
    pid: int,
    started_ms: int,
    epoch: int,
    ttl_ms: int,
    seen_within_ms: int,
) -> LeaseView:
    """One round of an instance: note it alive, renew the lease it holds at ``epoch`` or take
    a free or expired one (with a new fencing epoch: also when it held it and let it lapse), and
    read the lease and the group's size. All judged on the database's clock. An instance
    started again under the same name holds no epoch yet: it takes the lease only once free."""
    with engine.begin() as conn:
        now = _seen(conn, instance=instance, url=url, pid=pid, started_ms=started_ms)
        conn.execute(
            text(
                "UPDATE pool_lease SET "
                "epoch = CASE WHEN holder = :me AND epoch = :epoch AND expires_ms > :now "
                "THEN epoch ELSE epoch + 1 END, "
                "holder = :me, holder_url = :url, expires_ms = :now + :ttl, renewed_ms = :now "
                "WHERE name = :name "
                "AND ((holder = :me AND epoch = :epoch) OR holder IS NULL OR expires_ms <= :now)"
            ),
            {"me": instance, "url": url, "now": now, "ttl": ttl_ms, "name": LEASE_NAME, "epoch": epoch},
        )
        alive = conn.execute(
            select(func.count()).select_from(INSTANCE).where(INSTANCE.c.seen_ms > now - seen_within_ms)
        ).scalar_one()
        return _view(conn, now, int(alive))


def take_lease_for_good(engine: Engine, *, instance: str, url: str, pid: int, started_ms: int) -> LeaseView:
    """The single instance's lease (SQLite): taken at start with a new epoch, never expiring
    (the instance lock on the file keeps any other instance out)."""
    with engine.begin() as conn:
        now = _seen(conn, instance=instance, url=url, pid=pid, started_ms=started_ms)
        conn.execute(
            LEASE.update()
            .where(LEASE.c.name == LEASE_NAME)
            .values(
                holder=instance,
                holder_url=url,
                epoch=LEASE.c.epoch + 1,
                expires_ms=FOREVER_MS,
                renewed_ms=now,
            )
        )
        return _view(conn, now, 1)


def release_lease(engine: Engine, *, instance: str, epoch: int) -> bool:
    """Let the lease go at once (a clean stop), if this instance still holds it at ``epoch``."""
    with engine.begin() as conn:
        now = db_now(conn)
        result = conn.execute(
            LEASE.update()
            .where(LEASE.c.name == LEASE_NAME, LEASE.c.holder == instance, LEASE.c.epoch == epoch)
            .values(expires_ms=now)
        )
        return bool(result.rowcount)


def bump_generation(engine: Engine) -> None:
    """Shared state changed (members, parameters, constitution): the others reload."""
    with engine.begin() as conn:
        conn.execute(
            LEASE.update().where(LEASE.c.name == LEASE_NAME).values(generation=LEASE.c.generation + 1)
        )


def get_lease(engine: Engine) -> dict[str, Any] | None:
    with engine.connect() as conn:
        row = conn.execute(select(LEASE).where(LEASE.c.name == LEASE_NAME)).mappings().first()
        if row is None:
            return None
        return {**dict(row), "now_ms": db_now(conn)}


def list_instances(engine: Engine) -> tuple[int, list[dict[str, Any]]]:
    """The database's clock and every instance on record, most recently seen first."""
    with engine.connect() as conn:
        now = db_now(conn)
        rows = conn.execute(select(INSTANCE).order_by(INSTANCE.c.seen_ms.desc())).mappings().all()
    return now, [dict(r) for r in rows]
