"""The node's block store: every accepted block, durably, with a checksum.

On start-up the node replays the stored blocks through fork choice. Each row is checked
first: its checksum must match its bytes and its bytes must decode to a block with the row's
id. A row that fails is reported with its height and id and the node refuses to start (it
never silently uses it); ``repair`` deletes that block and everything above it so that peer
sync can fetch them again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import orjson
from sqlalchemy import delete, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session, SQLModel, col, select

from chain.core import Block
from chain.core.errors import MalformedInput
from chain.node.models import BlockRow, NodeMeta
from service_shell.db import make_engine, run_migrations

MIGRATIONS = Path(__file__).parent / "migrations"
BLOCK = SQLModel.metadata.tables["node_block"]
VERSION_TABLE = "alembic_version_node"


class StoreError(Exception):
    """The block store cannot be used as it is."""


class StoreCorrupted(StoreError):
    """A stored block failed its integrity check."""

    def __init__(self, message: str, height: int, block_id: str) -> None:
        super().__init__(message)
        self.height = height
        self.block_id = block_id


class BlockStore:
    """Blocks in SQLite or PostgreSQL, with the canonical chain marked."""

    def __init__(self, url: str) -> None:
        self.url = url
        # Blocks are written on the path of every block: the log is checkpointed by the node
        # in the background (WalCheckpointer), never by a block's commit.
        self.engine: Engine = make_engine(url, background_checkpoints=True)
        # INSERT that does nothing when the block is stored already (a re-pushed block).
        dialect = postgresql if self.engine.dialect.name == "postgresql" else sqlite
        self._insert_new = dialect.insert(BLOCK).on_conflict_do_nothing(index_elements=["id"])

    def open(self, chain_id: str) -> None:
        """Migrate the schema and check the store belongs to ``chain_id``."""
        run_migrations(self.engine, MIGRATIONS, VERSION_TABLE)
        stored = self.get_meta("chain_id")
        if stored is None:
            self.set_meta("chain_id", chain_id)
        elif stored != chain_id:
            raise StoreError(
                f"the block store at {self.url} belongs to chain {stored[:16]}…, not to this "
                f"genesis ({chain_id[:16]}…); use another data directory"
            )

    def close(self) -> None:
        self.engine.dispose()

    # --- metadata --------------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        with Session(self.engine) as session:
            row = session.get(NodeMeta, key)
            return row.value if row else None

    def set_meta(self, key: str, value: str) -> None:
        with Session(self.engine) as session:
            row = session.get(NodeMeta, key)
            if row is None:
                session.add(NodeMeta(key=key, value=value))
            else:
                row.value = value
                session.add(row)
            session.commit()

    # --- blocks ----------------------------------------------------------------------------

    def save_block(
        self,
        block: Block,
        data: bytes,
        *,
        received_ms: int,
        applied: list[str] | None = None,
        reverted: list[str] | None = None,
    ) -> None:
        """Store a block and, in the same transaction, move the canonical marks (Core
        statements: this is on the path of every block; the usual case, a new block that
        becomes the head, is one statement)."""
        applied, reverted = applied or [], reverted or []
        row = {
            "id": block.id,
            "height": block.height,
            "slot": block.slot,
            "prev_id": block.header.prev_id,
            "producer": block.header.producer,
            "canonical": block.id in applied,
            "data": data,
            "checksum": hashlib.sha256(data).hexdigest(),
            "received_ms": received_ms,
        }
        with self.engine.begin() as conn:
            inserted = conn.execute(self._insert_new, row).rowcount == 1
            if inserted:
                applied = [i for i in applied if i != block.id]
            if applied or reverted:
                self._mark(conn, applied, reverted)

    def mark_canonical(self, applied: list[str], reverted: list[str]) -> None:
        """Move the canonical marks after a head change."""
        with self.engine.begin() as conn:
            self._mark(conn, applied, reverted)

    @staticmethod
    def _mark(conn: Connection, applied: list[str], reverted: list[str]) -> None:
        # Chunked: SQLite caps the number of bound parameters per statement.
        for ids, value in ((reverted, False), (applied, True)):
            for i in range(0, len(ids), 500):
                conn.execute(update(BLOCK).where(BLOCK.c.id.in_(ids[i : i + 500])).values(canonical=value))

    def count(self) -> int:
        with Session(self.engine) as session:
            return len(session.exec(select(BlockRow.id)).all())

    def iter_verified(self) -> Iterator[tuple[BlockRow, Block]]:
        """Every stored block, oldest first, after its integrity check (raises on failure)."""
        with Session(self.engine) as session:
            rows = session.exec(
                select(BlockRow).order_by(col(BlockRow.height), col(BlockRow.received_ms))
            ).all()
        for row in rows:
            yield row, self._verified(row)

    @staticmethod
    def _verified(row: BlockRow) -> Block:
        data = bytes(row.data)
        if hashlib.sha256(data).hexdigest() != row.checksum:
            raise StoreCorrupted(
                f"stored block {row.id[:16]}… at height {row.height} fails its checksum "
                "(a corrupted or partial write)",
                row.height,
                row.id,
            )
        try:
            block = Block.from_dict(orjson.loads(data))
        except (orjson.JSONDecodeError, MalformedInput) as exc:
            raise StoreCorrupted(
                f"stored block {row.id[:16]}… at height {row.height} does not decode: {exc}",
                row.height,
                row.id,
            ) from None
        if block.id != row.id:
            raise StoreCorrupted(
                f"stored block at height {row.height} has id {block.id[:16]}… but is filed "
                f"under {row.id[:16]}…",
                row.height,
                row.id,
            )
        return block

    def get(self, block_id: str) -> tuple[str, bytes] | None:
        """``(id, stored bytes)`` of a block by id."""
        with Session(self.engine) as session:
            row = session.get(BlockRow, block_id)
            return (row.id, bytes(row.data)) if row else None

    def get_canonical(self, height: int) -> tuple[str, bytes] | None:
        """``(id, stored bytes)`` of the canonical block at ``height``."""
        with Session(self.engine) as session:
            row = session.exec(
                select(BlockRow).where(BlockRow.height == height, col(BlockRow.canonical).is_(True))
            ).first()
            return (row.id, bytes(row.data)) if row else None

    def canonical_range(self, from_height: int, limit: int) -> list[bytes]:
        """Stored bytes of canonical blocks from ``from_height`` up, at most ``limit``."""
        with Session(self.engine) as session:
            rows = session.exec(
                select(BlockRow)
                .where(BlockRow.height >= from_height, col(BlockRow.canonical).is_(True))
                .order_by(col(BlockRow.height))
                .limit(limit)
            ).all()
            return [bytes(r.data) for r in rows]

    def last_block_of(self, producer: str) -> dict[str, object] | None:
        """The stored block of ``producer`` with the highest slot, canonical or not (``slot``,
        ``height``, ``id``, ``canonical``), or ``None`` when it has none."""
        with Session(self.engine) as session:
            row = session.exec(
                select(BlockRow.slot, BlockRow.height, BlockRow.id, BlockRow.canonical)
                .where(BlockRow.producer == producer)
                .order_by(col(BlockRow.slot).desc())
                .limit(1)
            ).first()
        if row is None:
            return None
        slot, height, block_id, canonical = row
        return {"slot": slot, "height": height, "id": block_id, "canonical": bool(canonical)}

    def delete_blocks(self, ids: list[str]) -> None:
        """Forget blocks (found invalid during replay)."""
        with Session(self.engine) as session:
            for i in range(0, len(ids), 500):
                session.execute(delete(BlockRow).where(col(BlockRow.id).in_(ids[i : i + 500])))
            session.commit()

    def repair(self, from_height: int) -> int:
        """Delete every block at or above ``from_height``; returns how many went."""
        with Session(self.engine) as session:
            result = session.execute(delete(BlockRow).where(col(BlockRow.height) >= from_height))
            session.commit()
            return int(getattr(result, "rowcount", 0) or 0)
