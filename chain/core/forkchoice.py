"""Fork choice: a ``Store`` fed by ``on_block``; ``get_head`` and the LIB come out.

* Longest chain wins; at equal height the lowest block id wins (deterministic everywhere).
* LIB: the highest block that more than 2/3 of the active producers have built on, on any
  branch the store holds (each block's branch gives one, see ``compute_lib_height``). It never
  decreases, and nothing that does not descend from it is kept: the head is the longest chain
  above it, and a block that does not descend from it is refused.
* Every block is validated when it arrives (its parent is known): the one mutable state moves
  to the parent with per-block undo logs, applies the block, and moves to the head chosen
  afterwards. A side block therefore costs a revert and a re-apply of the blocks between the
  head and the fork; in exchange the head and the LIB depend only on the set of blocks held,
  not on the order they came in, and an invalid block is never kept.

Spec: ``docs/spec/transition.md`` §9 (fork choice and finality).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .containers import Block
from .crypto import DOMAIN_BLOCK, verify_signature
from .errors import (
    BadProducerSignature,
    ChainError,
    ConflictsWithFinalized,
    KnownInvalid,
    UnknownParent,
    WrongHeight,
    WrongParent,
    WrongProducer,
)
from .sigcache import SignatureCache
from .state import State, UndoLog
from .transition import state_transition
from .types import Hash32

MAX_INVALID_REMEMBERED = 10_000


@dataclass
class _Node:
    block: Block | None  # None for the anchor (the LIB block)
    parent_id: str
    height: int
    lib_height: int  # the LIB on this block's branch once it is applied
    lib_id: str
    children: list[str] = field(default_factory=list)


@dataclass
class OnBlockResult:
    """What ``on_block`` did: ``status`` is ``applied`` (extends the head), ``reorg``
    (switched branch), ``stored`` (side branch, head unchanged) or ``duplicate``."""

    status: str
    head_id: Hash32
    applied: list[Block] = field(default_factory=list)
    reverted: list[Block] = field(default_factory=list)
    lib_changed: bool = False

    @property
    def head_changed(self) -> bool:
        return bool(self.applied)


class Store:
    """The block tree above the LIB and the state at its head."""

    def __init__(self, state: State, sig_cache: SignatureCache | None = None) -> None:
        self.state = state
        self.sig_cache = sig_cache
        anchor = state.head_id
        self._nodes: dict[str, _Node] = {anchor: _Node(None, "", state.height, state.height, anchor)}
        # Undo logs of the blocks between the anchor and ``_at`` (the block the state is at).
        self._undo: dict[str, UndoLog] = {}
        # The undo log of the last block applied, kept past its finalization (read-only use:
        # judging another block for the same slot against its parent, see head_undo).
        self._last_undo: tuple[str, UndoLog] | None = None
        self._at: str = anchor
        self._invalid: dict[str, str] = {}
        self.head_id: Hash32 = anchor
        self.finalized_id: Hash32 = anchor
        self.finalized_height = state.height

    # --- queries ---------------------------------------------------------------------------

    def get_head(self) -> Hash32:
        """The id of the head block."""
        return self.head_id

    @property
    def head_height(self) -> int:
        return self._nodes[self.head_id].height

    @property
    def lib_height(self) -> int:
        """Height of the last irreversible block (the highest any held branch reached)."""
        return self.finalized_height

    @property
    def lib_id(self) -> Hash32:
        """Id of the last irreversible block."""
        return self.finalized_id

    def __contains__(self, block_id: object) -> bool:
        return block_id in self._nodes

    def get_block(self, block_id: str) -> Block | None:
        """A block held by the store (above the LIB), if any."""
        node = self._nodes.get(block_id)
        return node.block if node else None

    def is_known_invalid(self, block_id: str) -> str | None:
        """Why a block was found invalid, if it was."""
        return self._invalid.get(block_id)

    def canonical_chain(self) -> list[Hash32]:
        """Ids from the LIB (exclusive) to the head, oldest first."""
        ids: list[Hash32] = []
        node_id: str = self.head_id
        while node_id != self.finalized_id:
            ids.append(Hash32(node_id))
            node_id = self._nodes[node_id].parent_id
        ids.reverse()
        return ids

    # --- handlers --------------------------------------------------------------------------

    def on_block(self, block: Block) -> OnBlockResult:
        """Validate and add ``block``; move the head and the LIB as the rule says. Raises a
        ``ChainError`` for a block that is invalid or cannot be connected."""
        block_id = block.id
        if block_id in self._nodes:
            return OnBlockResult("duplicate", self.head_id)
        reason = self._invalid.get(block_id)
        if reason is not None:
            raise KnownInvalid(f"block {block_id[:16]}… was already found invalid: {reason}")
        prev_id = block.header.prev_id
        parent = self._nodes.get(prev_id)
        if parent is None:
            reason = self._invalid.get(prev_id)
            if reason is not None:
                raise KnownInvalid(
                    f"parent {prev_id[:16]}… of block {block.height} was found invalid: {reason}"
                )
            if block.height <= self.finalized_height:
                raise ConflictsWithFinalized(
                    f"block at height {block.height} is at or below the LIB {self.finalized_height}"
                )
            raise UnknownParent(f"parent {prev_id[:16]}… of block {block.height} is unknown")
        # Verify the height follows the parent
        if block.height != parent.height + 1:
            raise WrongHeight(f"height {block.height} does not follow its parent's {parent.height}")
        # Verify the producer is a registered producer (cheap gate before any state work).
        # The head state knows every producer that can produce on a held branch: being
        # scheduled takes a schedule change that is irreversible on that branch, so the LIB,
        # and with it the head, descend from the registration.
        if block.header.producer not in self.state.producers.rows:
            raise WrongProducer(f"{block.header.producer} is not a registered producer")
        # Verify the producer signed it
        producer = self.state.accounts.rows.get(block.header.producer)
        if producer is None or not verify_signature(
            producer.key, DOMAIN_BLOCK, block.header.canonical, block.producer_signature
        ):
            raise BadProducerSignature(f"producer signature does not verify for {block.header.producer}")
        head_before = self.head_id
        # Verify the block applies on its parent's state
        try:
            self._move_to(prev_id)
            try:
                undo = state_transition(self.state, block, self.sig_cache)
            except ChainError as exc:
                self._remember_invalid(block_id, exc.message)
                raise
        except BaseException:
            self._move_to(head_before)
            raise
        self._add(block, undo)
        return self._choose(head_before, block_id)

    def adopt(self, block: Block, undo: UndoLog) -> OnBlockResult:
        """Take a block this process just built on the head with ``build_block(keep=True)``:
        the head state already holds it, so it is recorded without applying it again."""
        # Verify it extends the head and the state holds it
        if block.header.prev_id != self.head_id or self.state.head_id != block.id:
            self.state.undo(undo)
            raise WrongParent("only a block built on the current head state can be adopted")
        head_before = self.head_id
        self._add(block, undo)
        return self._choose(head_before, block.id)

    def head_undo(self) -> UndoLog | None:
        """The undo log of the head block while the state is at it (even once it is final), to
        step back to its parent and forth again; ``None`` when it is not known."""
        last = self._last_undo
        if last is None or last[0] != self.head_id or self._at != self.head_id:
            return None
        return last[1]

    # --- internals -------------------------------------------------------------------------

    def _add(self, block: Block, undo: UndoLog) -> None:
        """Record ``block``, just applied on its parent: the state is at it now."""
        block_id = block.id
        state = self.state
        self._undo[block_id] = undo
        self._last_undo = (block_id, undo)
        self._at = block_id
        self._nodes[block_id] = _Node(
            block, block.header.prev_id, block.height, state.chain.lib_height, state.lib_id
        )
        self._nodes[block.header.prev_id].children.append(block_id)

    def _choose(self, head_before: Hash32, new_id: str) -> OnBlockResult:
        """Settle the LIB and the head after ``new_id`` joined; move the state to the head."""
        node = self._nodes[new_id]
        new_lib = node.lib_id if node.lib_height > self.finalized_height else None
        if new_lib is not None and not self._descends(head_before, new_lib):
            best = self._best_under(new_lib)  # the old head is ruled out by the new LIB
        elif self._is_better(new_id, head_before):
            best = new_id
        else:
            best = head_before
        old_branch, new_branch = self._branch(head_before, best)
        self._move_to(best)
        self.head_id = Hash32(best)
        reverted = [self._block(bid) for bid in old_branch]
        applied = [self._block(bid) for bid in new_branch]
        if new_lib is not None:
            self._finalize(new_lib)
        status = "stored" if best == head_before else "reorg" if old_branch else "applied"
        return OnBlockResult(status, self.head_id, applied, reverted, new_lib is not None)

    def _is_better(self, a: str, b: str) -> bool:
        """Is ``a`` a better head than ``b``: longer, or as long with a lower id."""
        height_a, height_b = self._nodes[a].height, self._nodes[b].height
        return height_a > height_b or (height_a == height_b and a < b)

    def _descends(self, block_id: str, ancestor: str) -> bool:
        """Is ``block_id`` ``ancestor`` or one of its descendants."""
        nodes = self._nodes
        target = nodes[ancestor].height
        while nodes[block_id].height > target:
            block_id = nodes[block_id].parent_id
        return block_id == ancestor

    def _best_under(self, root: str) -> str:
        """The best head among ``root`` and its descendants."""
        best, stack = root, [root]
        while stack:
            bid = stack.pop()
            if self._is_better(bid, best):
                best = bid
            stack.extend(self._nodes[bid].children)
        return best

    def _branch(self, old: str, new: str) -> tuple[list[str], list[str]]:
        """From ``old`` to ``new``: (blocks to revert, newest first; blocks to apply, oldest first)."""
        old_branch: list[str] = []
        new_branch: list[str] = []
        nodes = self._nodes
        while nodes[new].height > nodes[old].height:
            new_branch.append(new)
            new = nodes[new].parent_id
        while nodes[old].height > nodes[new].height:
            old_branch.append(old)
            old = nodes[old].parent_id
        while old != new:
            old_branch.append(old)
            new_branch.append(new)
            old, new = nodes[old].parent_id, nodes[new].parent_id
        new_branch.reverse()
        return old_branch, new_branch

    def _block(self, block_id: str) -> Block:
        block = self._nodes[block_id].block
        if block is None:
            raise ConflictsWithFinalized("the anchor cannot be applied or reverted")
        return block

    def _move_to(self, target: str) -> None:
        """Move the state to ``target`` (a held block): undo back to the common ancestor, then
        apply the blocks to ``target``, all of which were validated when they arrived."""
        revert, apply = self._branch(self._at, target)
        for bid in revert:
            self.state.undo(self._undo.pop(bid))
            self._at = self._nodes[bid].parent_id
        for bid in apply:
            self._undo[bid] = state_transition(self.state, self._block(bid), self.sig_cache)
            self._last_undo = (bid, self._undo[bid])
            self._at = bid

    def _remember_invalid(self, block_id: str, reason: str) -> None:
        if len(self._invalid) >= MAX_INVALID_REMEMBERED:
            self._invalid.pop(next(iter(self._invalid)))
        self._invalid[block_id] = reason

    def _finalize(self, lib_id: str) -> None:
        """Move the anchor to the new LIB (a block on the head's chain): drop the undo logs
        at or below it and every branch that does not descend from it."""
        keep: dict[str, _Node] = {}
        stack: list[str] = [lib_id]
        while stack:
            bid = stack.pop()
            node = self._nodes[bid]
            keep[bid] = node
            stack.extend(node.children)
        self._undo = {bid: log for bid, log in self._undo.items() if bid in keep and bid != lib_id}
        anchor = keep[lib_id]
        keep[lib_id] = _Node(None, "", anchor.height, anchor.lib_height, anchor.lib_id, anchor.children)
        self._nodes = keep
        self.finalized_id = Hash32(lib_id)
        self.finalized_height = anchor.height
