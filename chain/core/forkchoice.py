"""Fork choice: a ``Store`` fed by ``on_block``; ``get_head`` and the LIB come out.

* Longest chain wins; at equal height the lowest block id wins (deterministic everywhere).
* Never reverts past the LIB: a block that does not descend from the last irreversible
  block is refused, and nothing at or below it is kept except the LIB block itself.
* One mutable head state. Blocks on side branches are stored unvalidated (after a
  producer-signature check) and validated only when their branch would become the head;
  a switch reverts the head with per-block undo logs and applies the new branch, and
  restores the old head if any block of the new branch is invalid.
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
)
from .sigcache import SignatureCache
from .state import State, UndoLog
from .transition import state_transition
from .types import Hash32

MAX_INVALID_REMEMBERED = 10_000


@dataclass
class _Node:
    block: Block | None
    parent_id: str
    height: int
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
        self._nodes: dict[str, _Node] = {anchor: _Node(None, "", state.height)}
        self._undo: dict[str, UndoLog] = {}
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
        """Height of the last irreversible block on the head branch."""
        return self.state.chain.lib_height

    @property
    def lib_id(self) -> Hash32:
        return self.state.lib_id

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
        """Add ``block``; switch the head when its branch is better. Raises on invalid."""
        block_id = block.id
        if block_id in self._nodes:
            return OnBlockResult("duplicate", self.head_id)
        reason = self._invalid.get(block_id)
        if reason is not None:
            raise KnownInvalid(f"block {block_id[:16]}… was already found invalid: {reason}")
        parent = self._nodes.get(block.header.prev_id)
        if parent is None:
            if block.height <= self.finalized_height:
                raise ConflictsWithFinalized(
                    f"block at height {block.height} is at or below the LIB {self.finalized_height}"
                )
            raise UnknownParent(f"parent {block.header.prev_id[:16]}… of block {block.height} is unknown")
        # Verify the height follows the parent
        if block.height != parent.height + 1:
            raise WrongHeight(f"height {block.height} does not follow its parent's {parent.height}")
        # Verify the producer signed it (cheap gate before storing a side block)
        producer = self.state.accounts.rows.get(block.header.producer)
        if producer is None or not verify_signature(
            producer.key, DOMAIN_BLOCK, block.header.canonical, block.producer_signature
        ):
            raise BadProducerSignature(f"producer signature does not verify for {block.header.producer}")
        self._nodes[block_id] = _Node(block, block.header.prev_id, block.height)
        parent.children.append(block_id)
        if not self._is_better(block_id):
            return OnBlockResult("stored", self.head_id)
        return self._switch_to(block_id)

    def adopt(self, block: Block, undo: UndoLog) -> OnBlockResult:
        """Take a block this process just built on the head with ``build_block(keep=True)``:
        the head state already holds it, so it is recorded without applying it again."""
        # Verify it extends the head and the state holds it
        if block.header.prev_id != self.head_id or self.state.head_id != block.id:
            self.state.undo(undo)
            raise WrongParent("only a block built on the current head state can be adopted")
        self._nodes[block.id] = _Node(block, block.header.prev_id, block.height)
        self._nodes[self.head_id].children.append(block.id)
        self._undo[block.id] = undo
        lib_before = self.finalized_height
        self.head_id = block.id
        lib_changed = self.state.chain.lib_height != lib_before
        if lib_changed:
            self._finalize()
        return OnBlockResult("applied", self.head_id, [block], [], lib_changed)

    # --- internals -------------------------------------------------------------------------

    def _is_better(self, block_id: str) -> bool:
        node, head = self._nodes[block_id], self._nodes[self.head_id]
        return node.height > head.height or (node.height == head.height and block_id < self.head_id)

    def _branch_from_common_ancestor(self, target: str) -> tuple[list[str], list[str]]:
        """(blocks to revert, head first; blocks to apply, oldest first)."""
        old: str = self.head_id
        new: str = target
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

    def _apply(self, block_id: str) -> Block:
        block = self._nodes[block_id].block
        if block is None:
            raise ConflictsWithFinalized("cannot apply the anchor")
        self._undo[block_id] = state_transition(self.state, block, self.sig_cache)
        return block

    def _revert(self, block_id: str) -> Block:
        self.state.undo(self._undo.pop(block_id))
        block = self._nodes[block_id].block
        if block is None:
            raise ConflictsWithFinalized("cannot revert the anchor")
        return block

    def _switch_to(self, target: str) -> OnBlockResult:
        old_branch, new_branch = self._branch_from_common_ancestor(target)
        reverted = [self._revert(bid) for bid in old_branch]
        applied: list[Block] = []
        try:
            for bid in new_branch:
                applied.append(self._apply(bid))
        except ChainError as exc:
            failed = new_branch[len(applied)]
            for block in reversed(applied):
                self._revert(block.id)
            for bid in reversed(old_branch):
                self._apply(bid)
            self._forget(failed, exc.message)
            raise
        lib_before = self.finalized_height
        self.head_id = Hash32(target)
        status = "applied" if not old_branch else "reorg"
        lib_changed = self.state.chain.lib_height != lib_before
        if lib_changed:
            self._finalize()
        return OnBlockResult(status, self.head_id, applied, reverted, lib_changed)

    def _forget(self, block_id: str, reason: str) -> None:
        """Drop an invalid block and its descendants, remembering why."""
        stack = [block_id]
        node = self._nodes.get(block_id)
        if node is not None and node.parent_id in self._nodes:
            self._nodes[node.parent_id].children.remove(block_id)
        while stack:
            bid = stack.pop()
            gone = self._nodes.pop(bid, None)
            if len(self._invalid) >= MAX_INVALID_REMEMBERED:
                self._invalid.pop(next(iter(self._invalid)))
            self._invalid[bid] = reason
            if gone is not None:
                stack.extend(gone.children)

    def _finalize(self) -> None:
        """Move the anchor to the new LIB: drop undo logs and branches it rules out."""
        lib_height = self.state.chain.lib_height
        lib_id = self.state.lib_id
        keep: dict[str, _Node] = {}
        stack: list[str] = [lib_id]
        while stack:
            bid = stack.pop()
            node = self._nodes[bid]
            keep[bid] = node
            stack.extend(node.children)
        # Blocks at or below the LIB can no longer be undone.
        self._undo = {bid: log for bid, log in self._undo.items() if bid in keep and bid != lib_id}
        anchor = keep[lib_id]
        keep[lib_id] = _Node(None, "", anchor.height, anchor.children)
        self._nodes = keep
        self.finalized_id = lib_id
        self.finalized_height = lib_height
