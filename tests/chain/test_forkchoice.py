"""Fork choice: longest chain, lowest-id tie-break, reorgs, invalid branches, LIB."""

from __future__ import annotations

from dataclasses import replace

import pytest

from chain.core import (
    Block,
    Genesis,
    Store,
    compute_full_state_root,
    compute_state_root,
    create_genesis_state,
)
from chain.core.errors import (
    BadProducerSignature,
    ConflictsWithFinalized,
    KnownInvalid,
    StateRootMismatch,
    UnknownParent,
    WrongProducer,
)
from chain.node.metrics import NodeMetrics
from tests.chain.conftest import small_params
from tests.helpers.chain import ChainSim, key_for, make_genesis, transfer


@pytest.fixture
def genesis():
    return make_genesis(params=small_params())


def new_store(genesis) -> Store:
    return Store(create_genesis_state(genesis))


def test_linear_chain_moves_the_head(genesis) -> None:
    a = ChainSim(genesis)
    store = new_store(genesis)
    for slot in (1, 2, 3):
        block = a.produce(slot)
        result = store.on_block(block)
        assert result.status == "applied" and result.applied == [block]
    assert store.get_head() == a.state.head_id
    assert store.on_block(a.blocks[-1]).status == "duplicate"


def test_unknown_parent(genesis) -> None:
    a = ChainSim(genesis)
    a.produce(1)
    store = new_store(genesis)
    with pytest.raises(UnknownParent):
        store.on_block(a.produce(2))


def test_tie_breaks_on_lowest_id_and_longest_chain_wins(genesis) -> None:
    a, b = ChainSim(genesis), ChainSim(genesis)
    block_a = a.produce(1, [transfer(a.state, "alice", "bob", 1)])
    block_b = b.produce(1, [transfer(b.state, "alice", "bob", 2)])
    store = new_store(genesis)
    store.on_block(block_a)
    result = store.on_block(block_b)
    low, high = sorted([block_a, block_b], key=lambda blk: blk.id)
    assert store.get_head() == low.id
    assert result.status == ("reorg" if low is block_b else "stored")
    # extend the higher-id branch: it becomes the longest and wins
    extender = a if high is block_a else b
    nxt = extender.produce(2)
    result = store.on_block(nxt)
    assert store.get_head() == nxt.id
    assert compute_state_root(store.state) == compute_state_root(extender.state)
    assert compute_state_root(store.state) == compute_full_state_root(store.state)


def test_reorg_reports_reverted_and_applied_blocks(genesis) -> None:
    a, b = ChainSim(genesis), ChainSim(genesis)
    store = new_store(genesis)
    a1 = a.produce(1, [transfer(a.state, "alice", "bob", 1)])
    store.on_block(a1)
    b_blocks = [b.produce(1, [transfer(b.state, "carol", "bob", 3)]), b.produce(2)]
    first = store.on_block(b_blocks[0])  # a tie: switches at once only if its id is lower
    second = store.on_block(b_blocks[1])
    assert store.get_head() == b_blocks[1].id
    switch = first if first.status == "reorg" else second
    assert switch.status == "reorg"
    assert [blk.id for blk in switch.reverted] == [a1.id]
    assert [blk.id for blk in first.applied + second.applied] == [b.id for b in b_blocks]
    assert store.state.accounts["alice"].nonce == 0 and store.state.accounts["carol"].nonce == 1


def _signed_child(parent: Block, slot: int, producer: str = "alpha") -> Block:
    """A block on ``parent`` that is never validated (its ancestor fails first)."""
    header = replace(
        parent.header,
        height=parent.height + 1,
        slot=slot,
        prev_id=parent.id,
        timestamp=parent.header.timestamp + (slot - parent.slot) * 500,
        producer=producer,
        builder=producer,
    )
    return Block(header, ()).signed_by_producer(key_for(producer))


def test_an_invalid_side_block_is_refused_and_the_head_restored(genesis) -> None:
    a, b = ChainSim(genesis), ChainSim(genesis)
    store = new_store(genesis)
    for slot in (1, 2, 3):
        store.on_block(a.produce(slot))
    head, root = store.get_head(), compute_state_root(store.state)
    good = b.make_block(1, [transfer(b.state, "alice", "bob", 1)])
    bad1 = Block(replace(good.header, state_root="00" * 32), good.transactions).signed_by_producer(
        key_for("alpha")
    )
    bad2 = _signed_child(bad1, 2)
    # Validated on arrival, three blocks under the head: refused, never stored
    with pytest.raises(StateRootMismatch):
        store.on_block(bad1)
    assert bad1.id not in store
    assert store.get_head() == head
    assert compute_state_root(store.state) == root == compute_full_state_root(store.state)
    with pytest.raises(KnownInvalid):
        store.on_block(bad1)
    with pytest.raises(KnownInvalid, match="parent"):
        store.on_block(bad2)
    store.on_block(a.produce(4))  # the old branch keeps growing normally
    assert store.get_head() == a.state.head_id


def test_bad_producer_signature_is_refused_before_storing(genesis) -> None:
    a = ChainSim(genesis)
    block = a.make_block(1)
    forged = Block(
        block.header,
        block.transactions,
        producer_signature=key_for("beta").sign(b"bppool/block/v1", block.header.canonical),
    )
    store = new_store(genesis)
    with pytest.raises(BadProducerSignature):
        store.on_block(forged)
    assert forged.id not in store


def test_a_block_from_an_account_that_is_no_producer_is_refused_before_state_work(genesis) -> None:
    a = ChainSim(genesis)
    store = new_store(genesis)
    for slot in (1, 2):
        store.on_block(a.produce(slot))
    root = compute_state_root(store.state)
    # alice signs a block on the genesis side, two blocks under the head
    block = a.blocks[0]
    header = replace(block.header, producer="alice", builder="alice")
    forged = Block(header, block.transactions).signed_by_producer(key_for("alice"))
    with pytest.raises(WrongProducer, match="not a registered producer"):
        store.on_block(forged)
    assert store.state.head_id == a.state.head_id and compute_state_root(store.state) == root


def test_never_reverts_past_lib(genesis) -> None:
    a, b = ChainSim(genesis), ChainSim(genesis)
    store = new_store(genesis)
    fork_point = b.produce(1, [transfer(b.state, "alice", "bob", 9)])
    for _ in range(40):
        store.on_block(a.produce())
    assert store.lib_height > 1
    assert store.finalized_height == store.lib_height
    with pytest.raises(ConflictsWithFinalized):
        store.on_block(fork_point)
    # the store only keeps blocks above the LIB
    assert a.blocks[0].id not in store
    assert store.canonical_chain()[-1] == store.get_head()


def late_tie() -> tuple[Genesis, ChainSim, Block, Block]:
    """Two branches on three shared blocks, at the same height: ``block_x`` lifts the LIB to
    2 on its branch, ``block_y`` (a late fallback for a taken height) leaves it at 1 on its
    own and wins the tie; the genesis, the shared chain and the two blocks."""
    # Four producers, one slot each: beta 1, delta 2, gamma 3, alpha 4, beta 5, delta 6.
    genesis = make_genesis(("alpha", "beta", "delta", "gamma"), params=small_params(producer_repetitions=1))
    base = ChainSim(genesis)
    for slot in (1, 2, 3):
        base.produce(slot)
    x, y = ChainSim(genesis), ChainSim(genesis)
    for block in base.blocks:
        x.produce(block.slot)
        y.produce(block.slot)
    block_x = x.produce(4)  # alpha's block lifts the LIB to 2 on its branch
    assert x.state.chain.lib_height == 2
    # delta's block at the same height leaves the LIB at 1 on its branch; pick its transfer
    # so that its id wins the tie
    amount = 1
    while (block_y := y.make_block(6, [transfer(y.state, "alice", "bob", amount)])).id > block_x.id:
        amount += 1
    return genesis, base, block_x, block_y


def test_a_late_tie_with_a_lower_lib_keeps_the_lib_in_either_order() -> None:
    genesis, base, block_x, block_y = late_tie()
    for order in ((block_x, block_y), (block_y, block_x)):
        store = new_store(genesis)
        for block in base.blocks:
            store.on_block(block)
        results = [store.on_block(block) for block in order]
        assert store.get_head() == block_y.id
        assert (store.lib_height, store.lib_id) == (2, base.blocks[1].id)
        assert results[-1].lib_changed == (order[-1] is block_x)
        assert compute_state_root(store.state) == block_y.header.state_root


def test_the_node_exports_the_fork_choice_lib_not_the_head_branch_count() -> None:
    """The head's branch may count a lower LIB than the store holds (another branch reached
    it): ``bppool_chain_lib_height`` says what ``get_info`` and the head stream say."""
    genesis, base, block_x, block_y = late_tie()
    store = new_store(genesis)
    for block in (*base.blocks, block_x, block_y):
        store.on_block(block)
    assert store.get_head() == block_y.id
    assert (store.state.chain.lib_height, store.lib_height) == (1, 2)
    metrics = NodeMetrics(lambda: store, lambda: 0)
    assert metrics.registry.get_sample_value("bppool_chain_lib_height") == 2
