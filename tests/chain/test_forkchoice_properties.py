"""Fork choice over random block trees delivered in random orders (hypothesis).

A tree of signed blocks is grown from genesis (four producers, one slot each per round, so
the LIB moves every few blocks and forks fall on both sides of LIB candidates), with some
invalid blocks among them; two stores take the blocks in two random orders. A block whose
parent a store lacks is offered again after each block the store accepts (as a follower
fetching what it missed would). Invariants:

* a store raises nothing but ``ChainError`` (subclasses), whatever the order;
* the head is the longest chain among the blocks the store holds (lowest id on a tie), and
  the store's state is the head block's state;
* the LIB never decreases, is never reverted (each LIB descends from the one before) and the
  head descends from it;
* when the tree's finality does not conflict (every branch's LIB lies on one chain: no third
  of the producers built on both sides of a LIB), both stores end on the same head and LIB,
  the ones the rule gives for the whole tree: the highest LIB any branch reached, and the
  longest chain (lowest id on a tie) among the valid blocks above it.

More examples on demand: ``BPPOOL_FORKCHOICE_EXAMPLES=500``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace

from hypothesis import event, given, settings
from hypothesis import strategies as st

from chain.core import (
    Block,
    ChainError,
    SignatureCache,
    Store,
    build_block,
    compute_full_state_root,
    compute_state_root,
    create_genesis_state,
    state_transition,
)
from chain.core.errors import UnknownParent
from chain.core.schedule import get_scheduled_producer
from tests.chain.conftest import small_params
from tests.helpers.chain import key_for, make_genesis, transfer

EXAMPLES = int(os.environ.get("BPPOOL_FORKCHOICE_EXAMPLES", "40"))
PRODUCERS = ("alpha", "beta", "delta", "gamma")
GENESIS = make_genesis(PRODUCERS, params=small_params(producer_repetitions=1))
CACHE = SignatureCache()
GENESIS_ID = create_genesis_state(GENESIS).head_id


@dataclass(frozen=True)
class Built:
    """A generated block, with what the reference replay found for it."""

    block: Block
    valid: bool
    lib_height: int = -1  # the LIB on its branch once applied (valid blocks only)
    lib_id: str = ""


@dataclass(frozen=True)
class Tree:
    """Generated blocks (parents before children) and their parent links."""

    blocks: list[Built]
    parent: dict[str, str]
    height: dict[str, int]

    def ancestors(self, block_id: str) -> list[str]:
        """``block_id`` and its ancestors down to genesis."""
        out = [block_id]
        while out[-1] in self.parent:
            out.append(self.parent[out[-1]])
        return out

    def descends(self, block_id: str, ancestor: str) -> bool:
        return ancestor in self.ancestors(block_id)


def _replay(tree_blocks: dict[str, Built], parent: dict[str, str], tip: str):  # type: ignore[no-untyped-def]
    """The state after the path from genesis to ``tip`` (a fresh state, replayed)."""
    path: list[Block] = []
    node = tip
    while node != GENESIS_ID:
        path.append(tree_blocks[node].block)
        node = parent[node]
    state = create_genesis_state(GENESIS)
    for block in reversed(path):
        state_transition(state, block, CACHE)
    return state


def _resign(block: Block, header_changes: dict[str, object], signer: str) -> Block:
    return Block(replace(block.header, **header_changes), block.transactions).signed_by_producer(
        key_for(signer)
    )


step = st.tuples(
    st.sampled_from((0, 0, 0, 1, 1, 2, 3)),  # parent: how many valid blocks back from the newest
    st.integers(min_value=1, max_value=2),  # slot gap after the parent
    st.integers(min_value=0, max_value=3),  # transfer amount (0: none) so siblings differ
    st.integers(
        min_value=0, max_value=11
    ),  # kind: 0-8 valid, 9 bad state root, 10 wrong producer, 11 forged signature
)


@st.composite
def trees(draw: st.DrawFn) -> Tree:
    steps = draw(st.lists(step, min_size=8, max_size=28))
    valid_ids: list[str] = [GENESIS_ID]
    by_id: dict[str, Built] = {}
    parent: dict[str, str] = {}
    height: dict[str, int] = {GENESIS_ID: 0}
    blocks: list[Built] = []
    for back, gap, amount, kind in steps:
        parent_id = valid_ids[max(0, len(valid_ids) - 1 - back)]
        state = _replay(by_id, parent, parent_id)
        slot = state.slot + gap
        producer = get_scheduled_producer(state, slot)
        txs = [transfer(state, "alice", "bob", amount)] if amount else []
        block = build_block(state, slot=slot, producer=producer, transactions=txs, sig_cache=CACHE).block
        if kind == 9:
            block = _resign(block, {"state_root": "ab" * 32}, producer)
        elif kind == 10:
            other = PRODUCERS[(PRODUCERS.index(producer) + 1) % len(PRODUCERS)]
            block = _resign(block, {"producer": other, "builder": other}, other)
        elif kind == 11:
            block = Block(block.header, block.transactions).signed_by_producer(key_for("alice"))
        else:
            block = block.signed_by_producer(key_for(producer))
        if block.id in by_id:
            continue  # the same block twice (same parent, slot and transactions)
        parent[block.id] = parent_id
        height[block.id] = block.height
        if kind <= 8:
            state_transition(state, block, CACHE)
            built = Built(block, True, state.chain.lib_height, state.lib_id)
            valid_ids.append(block.id)
        else:
            built = Built(block, False)
        by_id[block.id] = built
        blocks.append(built)
    return Tree(blocks, parent, height)


def _better(tree: Tree, a: str, b: str) -> bool:
    """Is ``a`` a better head than ``b`` (longer; lower id on a tie)?"""
    return (tree.height[a], b) > (tree.height[b], a)


class Delivery:
    """Feeds one store in one order and checks the invariants after every block."""

    def __init__(self, tree: Tree) -> None:
        self.tree = tree
        self.store = Store(create_genesis_state(GENESIS), SignatureCache())
        self.lib_id = self.store.lib_id
        self.lib_height = self.store.lib_height
        self.waiting: dict[str, Block] = {}

    def offer(self, block: Block) -> bool:
        """One block to the store; True when it took it."""
        try:
            result = self.store.on_block(block)
        except UnknownParent:
            self.waiting[block.id] = block
            return False
        except ChainError:
            return False
        finally:
            self.check()
        self.waiting.pop(block.id, None)
        return result.status != "duplicate"

    def deliver(self, order: list[Block]) -> None:
        for block in order:
            if self.offer(block):
                # Offer what waited for a parent again until nothing more connects
                while any(self.offer(w) for w in list(self.waiting.values())):
                    pass

    def check(self) -> None:
        store, tree = self.store, self.tree
        head, lib = store.get_head(), store.lib_id
        # Verify the LIB never decreases and is never reverted
        assert store.lib_height >= self.lib_height
        assert lib == self.lib_id or tree.descends(lib, self.lib_id)
        self.lib_id, self.lib_height = lib, store.lib_height
        # Verify the head descends from the LIB
        assert head == lib or tree.descends(head, lib)
        # Verify the head is the best block the store holds
        held = [b.block.id for b in tree.blocks if b.block.id in store]
        for block_id in held:
            assert block_id == head or not _better(tree, block_id, head), (block_id, head)
        # Verify the state is the head's
        assert store.state.head_id == head
        if head != GENESIS_ID:
            assert compute_state_root(store.state) == store.get_block(head).header.state_root  # type: ignore[union-attr]


def _expected(tree: Tree) -> tuple[str, str] | None:
    """(head, LIB) the rule gives for the whole tree, or None when finality conflicts."""
    valid = [b for b in tree.blocks if b.valid]
    libs = {b.lib_id for b in valid} | {GENESIS_ID}
    top = max(libs, key=lambda bid: tree.height[bid])
    if not all(tree.descends(top, lib) for lib in libs):
        return None
    head = top
    for b in valid:
        if tree.descends(b.block.id, top) and _better(tree, b.block.id, head):
            head = b.block.id
    return head, top


@settings(max_examples=EXAMPLES, deadline=None)
@given(data=st.data(), tree=trees())
def test_any_delivery_order_follows_the_fork_choice_rule(data: st.DataObject, tree: Tree) -> None:
    blocks = [b.block for b in tree.blocks]
    first = Delivery(tree)
    first.deliver(data.draw(st.permutations(blocks), label="first order"))
    second = Delivery(tree)
    second.deliver(data.draw(st.permutations(blocks), label="second order"))
    assert compute_state_root(first.store.state) == compute_full_state_root(first.store.state)
    expected = _expected(tree)
    event("finality conflicts" if expected is None else "finality agrees")
    if expected is None:
        return
    head, lib = expected
    event(f"LIB above genesis: {lib != GENESIS_ID}")
    for delivery in (first, second):
        assert (delivery.store.get_head(), delivery.store.lib_id) == (head, lib)
        assert delivery.store.lib_height == tree.height[lib]
