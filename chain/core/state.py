"""The chain state: records in tables, a journal for rollback, an incremental root.

Records are immutable ``NamedTuple`` values; every write goes through :meth:`Table.put` or
:meth:`Table.delete`, which appends the previous value to the journal and marks the key
dirty. That gives three things at the cost of one list append per write:

* rollback: :meth:`State.revert` restores everything written since a checkpoint (a failed
  transaction inside block building, an invalid block, a fork-choice reorg);
* per-block undo logs: :meth:`State.take_journal` hands the writes of an applied block to
  the fork-choice store, which can undo the block later;
* an incremental state root: :func:`compute_state_root` rehashes only dirty records.

The state root commits to every committed table as leaves ``table/key -> canonical JSON
array of the record's fields`` in the bucketed tree of :mod:`chain.core.merkle`.

Spec: ``docs/spec/state.md`` §5-§7 (tables, records, value bytes).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Generic, NamedTuple, TypeVar

import orjson

from .caching import Forward
from .merkle import StateTree
from .params import ChainParams
from .types import Hash32

# --- records -------------------------------------------------------------------------------


class Account(NamedTuple):
    """An account: its public key, liquid balance and next nonce."""

    key: str
    balance: int
    nonce: int


class Producer(NamedTuple):
    """A registered block producer.

    ``delegations`` is a sorted tuple of ``(delegator, amount)``; ``stake`` is their sum.
    ``window`` holds the outcomes of the producer's most recent own slots, oldest first,
    ``"1"`` for missed and ``"0"`` for produced (at most ``liveness_window`` characters).
    """

    url: str
    stake: int
    delegations: tuple[tuple[str, int], ...]
    jailed: bool
    jailed_until: int
    tombstoned: bool
    produced_total: int
    missed_total: int
    window: str
    window_missed: int
    last_produced_height: int


def new_producer(url: str, name: str = "", own_stake: int = 0) -> Producer:
    """A newly registered producer, active; at genesis, ``name`` may delegate ``own_stake``
    to itself."""
    return Producer(
        url=url,
        stake=own_stake,
        delegations=((name, own_stake),) if own_stake else (),
        jailed=False,
        jailed_until=0,
        tombstoned=False,
        produced_total=0,
        missed_total=0,
        window="",
        window_missed=0,
        last_produced_height=0,
    )


class Unbonding(NamedTuple):
    """A delegator's unbonding entries.

    Each entry is a tuple ``(producer, amount, created_slot, completion_slot)``.
    """

    entries: tuple[tuple[str, int, int, int], ...]


class ChainMeta(NamedTuple):
    """Chain-wide values: position, finality, schedules and supply counters."""

    height: int
    slot: int
    lib_height: int
    schedule_version: int
    schedule: tuple[str, ...]
    pending_schedule: tuple[str, ...]
    pending_height: int
    minted: int
    burned: int


class BlockRef(NamedTuple):
    """Bookkeeping outside the root: the id and slot of a block at some height."""

    id: str
    slot: int


R = TypeVar("R", bound=tuple[Any, ...])

_MISSING: Any = object()

# --- tables --------------------------------------------------------------------------------


class Table(Generic[R]):
    """A keyed collection of records whose writes are journaled."""

    __slots__ = ("name", "rows", "committed", "_state", "_prefix")

    def __init__(self, state: State, name: str, *, committed: bool = True) -> None:
        self.name = name
        self.rows: dict[str, R] = {}
        self.committed = committed
        self._state = state
        self._prefix = (name + "/").encode()

    def get(self, key: str) -> R | None:
        """The record at ``key`` or ``None``."""
        return self.rows.get(key)

    def __getitem__(self, key: str) -> R:
        return self.rows[key]

    def __contains__(self, key: object) -> bool:
        return key in self.rows

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[str]:
        return iter(self.rows)

    def items(self) -> Iterator[tuple[str, R]]:
        """Iterate ``(key, record)`` pairs (insertion order; sort for determinism)."""
        return iter(self.rows.items())

    def put(self, key: str, record: R) -> None:
        """Write ``record`` at ``key``, journaling the previous value."""
        rows = self.rows
        self._state._journal.append((self, key, rows.get(key, _MISSING)))
        rows[key] = record
        if self.committed:
            self._state._dirty.add((self, key))

    def delete(self, key: str) -> None:
        """Remove ``key`` (no-op when absent), journaling the previous value."""
        rows = self.rows
        if key not in rows:
            return
        self._state._journal.append((self, key, rows.pop(key)))
        if self.committed:
            self._state._dirty.add((self, key))

    def _restore(self, key: str, old: Any) -> None:
        if old is _MISSING:
            self.rows.pop(key, None)
        else:
            self.rows[key] = old
        if self.committed:
            self._state._dirty.add((self, key))

    def leaf_key(self, key: str) -> bytes:
        """The tree key of ``key`` in this table."""
        return self._prefix + key.encode()


JournalEntry = tuple[Table[Any], str, Any]
UndoLog = list[JournalEntry]
# Records to put back, per table: (table, values by key, keys to delete).
RestoreBatch = list[tuple["Table[Any]", dict[str, Any], list[str]]]


class State:
    """Everything the chain knows at one block: plain data touched by module functions."""

    def __init__(self, chain_id: Hash32, params: ChainParams, symbol: str, genesis_time: int) -> None:
        self.chain_id = chain_id
        self.params = params
        self.symbol = symbol
        self.genesis_time = genesis_time
        self._journal: list[JournalEntry] = []
        self._dirty: set[tuple[Table[Any], str]] = set()
        self._tree = StateTree()
        self.tables: dict[str, Table[Any]] = {}
        self.meta: Table[ChainMeta] = self.table("meta")
        self.accounts: Table[Account] = self.table("accounts")
        self.producers: Table[Producer] = self.table("producers")
        self.unbonding: Table[Unbonding] = self.table("unbonding")
        self.blocks: Table[BlockRef] = self.table("blocks", committed=False)

    def table(self, name: str, *, committed: bool = True) -> Table[Any]:
        """The table called ``name``, created empty on first use."""
        existing = self.tables.get(name)
        if existing is not None:
            return existing
        created: Table[Any] = Table(self, name, committed=committed)
        self.tables[name] = created
        return created

    # --- journal ---------------------------------------------------------------------------

    def checkpoint(self) -> int:
        """A point to :meth:`revert` to."""
        return len(self._journal)

    def revert(self, checkpoint: int) -> None:
        """Undo every write made since ``checkpoint``."""
        journal = self._journal
        while len(journal) > checkpoint:
            table, key, old = journal.pop()
            table._restore(key, old)

    def take_journal(self, checkpoint: int) -> UndoLog:
        """Remove and return the writes since ``checkpoint`` (an applied block's undo log)."""
        log = self._journal[checkpoint:]
        del self._journal[checkpoint:]
        return log

    def undo(self, log: UndoLog) -> None:
        """Undo a block using the undo log :meth:`take_journal` returned for it."""
        for table, key, old in reversed(log):
            table._restore(key, old)

    def snapshot(self, log: UndoLog) -> UndoLog:
        """The current values of every record ``log`` touches (to :meth:`restore` later).

        With an applied block's undo log: ``undo(log)`` steps back to its parent state and
        ``restore(snapshot)`` steps forward again, both in time proportional to the block's
        writes (used to judge a second candidate for a slot already filled).
        """
        seen: set[tuple[int, str]] = set()
        entries: UndoLog = []
        for table, key, _ in log:
            marker = (id(table), key)
            if marker not in seen:
                seen.add(marker)
                entries.append((table, key, table.rows.get(key, _MISSING)))
        return entries

    def restore(self, entries: UndoLog) -> None:
        """Put back values taken by :meth:`snapshot`."""
        for table, key, value in entries:
            table._restore(key, value)

    @staticmethod
    def batch(entries: UndoLog) -> RestoreBatch:
        """``entries`` from :meth:`snapshot` (each key once) grouped by table, for
        :meth:`restore_batch`."""
        groups: dict[int, tuple[Table[Any], dict[str, Any], list[str]]] = {}
        for table, key, value in entries:
            group = groups.get(id(table))
            if group is None:
                group = groups[id(table)] = (table, {}, [])
            if value is _MISSING:
                group[2].append(key)
            else:
                group[1][key] = value
        return list(groups.values())

    def restore_batch(self, batch: RestoreBatch) -> None:
        """:meth:`restore` of a :meth:`batch`: a dict update per table instead of a call
        per record (stepping a 500-transaction block forward is on the emission path)."""
        dirty = self._dirty
        for table, updates, deletes in batch:
            rows = table.rows
            rows.update(updates)
            for key in deletes:
                rows.pop(key, None)
            if table.committed:
                dirty.update([(table, key) for key in updates])
                dirty.update([(table, key) for key in deletes])

    def clear_journal(self) -> None:
        """Forget the journal (after genesis, when nothing can be rolled back)."""
        self._journal.clear()

    # --- convenience -----------------------------------------------------------------------

    @property
    def chain(self) -> ChainMeta:
        """The chain-wide meta record."""
        return self.meta.rows["chain"]

    height = Forward[int]("chain.height")
    slot = Forward[int]("chain.slot")

    @property
    def head_id(self) -> Hash32:
        """Id of the last applied block (the chain id at genesis)."""
        return Hash32(self.blocks.rows[str(self.chain.height)].id)

    @property
    def lib_id(self) -> Hash32:
        """Id of the last irreversible block."""
        return Hash32(self.blocks.rows[str(self.chain.lib_height)].id)

    def block_ref(self, height: int) -> BlockRef | None:
        """Id and slot of the block at ``height`` on this state's branch, if still kept."""
        return self.blocks.rows.get(str(height))


def encode_record(record: tuple[Any, ...]) -> bytes:
    """The canonical value bytes of a record: a JSON array of its fields in order."""
    return orjson.dumps(list(record))


def compute_state_root(state: State) -> Hash32:
    """The state root, rehashing only the records written since it was last computed."""
    dirty = state._dirty
    if not dirty:
        return state._tree.root
    dumps = orjson.dumps
    changes = []
    for table, key in dirty:
        record = table.rows.get(key)
        changes.append((table._prefix + key.encode(), None if record is None else dumps(list(record))))
    dirty.clear()
    return state._tree.update(changes)


def compute_full_state_root(state: State) -> Hash32:
    """The state root computed from scratch (tests and audits; cost ~ the whole state)."""
    tree = StateTree()
    changes = [
        (table.leaf_key(key), encode_record(record))
        for table in state.tables.values()
        if table.committed
        for key, record in table.rows.items()
    ]
    return tree.update(changes)


def state_tree_hashed_nodes(state: State) -> int:
    """How many tree nodes this state has hashed so far (cost accounting for tests)."""
    return state._tree.hashed_nodes
