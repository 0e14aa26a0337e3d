"""The mempool: admission checks, fee ordering with nonce order, eviction, head changes."""

from __future__ import annotations

import pytest

from chain.core import State, Transaction
from chain.core.containers import Transfer
from chain.core.errors import DuplicateTransaction, InsufficientBalance, NonceMismatch
from chain.core.mempool import Mempool, MempoolFull
from tests.helpers.chain import ChainSim, make_genesis, make_tx, transfer

NOW = make_genesis().genesis_time + 1000


@pytest.fixture
def sim() -> ChainSim:
    return ChainSim(make_genesis())


def pending(state: State, *txs: Transaction, **limits: int) -> Mempool:
    """A mempool (with ``limits``) holding ``txs``, added in that order at ``NOW``."""
    pool = Mempool(**limits)
    for tx in txs:
        pool.add(tx, state, NOW)
    return pool


def test_selection_is_fee_ordered_with_nonces_in_order(sim: ChainSim) -> None:
    s = sim.state
    a0 = transfer(s, "alice", "bob", 1, nonce=0, fee=5)
    a1 = transfer(s, "alice", "bob", 1, nonce=1, fee=100)
    b0 = transfer(s, "bob", "carol", 1, nonce=0, fee=50)
    c0 = transfer(s, "carol", "bob", 1, nonce=0, fee=10)
    pool = pending(s, a0, a1, b0, c0)
    chosen = pool.select(s, 10)
    assert [t.id for t in chosen] == [b0.id, c0.id, a0.id, a1.id]
    assert [t.id for t in pool.select(s, 2)] == [b0.id, c0.id]


def test_nonce_rules(sim: ChainSim) -> None:
    pool = Mempool()
    s = sim.state
    pool.add(transfer(s, "alice", "bob", 1, nonce=0), s, NOW)
    with pytest.raises(DuplicateTransaction, match="nonce 0 from alice is already pending"):
        pool.add(transfer(s, "alice", "bob", 2, nonce=0), s, NOW)
    with pytest.raises(NonceMismatch, match="gap"):
        pool.add(transfer(s, "alice", "bob", 1, nonce=2), s, NOW)
    pool.add(transfer(s, "alice", "bob", 1, nonce=1), s, NOW)
    assert len(pool) == 2


def test_balance_covers_everything_pending(sim: ChainSim) -> None:
    pool = Mempool()
    s = sim.state
    balance = s.accounts["alice"].balance
    pool.add(transfer(s, "alice", "bob", balance - 100, nonce=0, fee=10), s, NOW)
    with pytest.raises(InsufficientBalance, match="pending"):
        pool.add(transfer(s, "alice", "bob", 100, nonce=1, fee=10), s, NOW)


def test_bounded_with_fee_based_eviction(sim: ChainSim) -> None:
    s = sim.state
    low = transfer(s, "alice", "bob", 1, nonce=0, fee=5)
    mid = transfer(s, "bob", "carol", 1, nonce=0, fee=10)
    pool = pending(s, low, mid, max_size=2)
    with pytest.raises(MempoolFull, match="higher fee"):
        pool.add(transfer(s, "carol", "bob", 1, nonce=0, fee=5), s, NOW)
    high = transfer(s, "carol", "bob", 1, nonce=0, fee=50)
    pool.add(high, s, NOW)
    assert low.id not in pool and high.id in pool and len(pool) == 2


def test_head_change_drops_included_and_takes_back_reverted(sim: ChainSim) -> None:
    s = sim.state
    tx0 = transfer(s, "alice", "bob", 1, nonce=0)
    tx1 = transfer(s, "alice", "bob", 1, nonce=1)
    pool = pending(s, tx0, tx1)
    block = sim.produce(1, [tx0])
    pool.on_head_change(s, [block], [], NOW)
    assert tx0.id not in pool and tx1.id in pool
    # a reorg reverts the block: against the state before it, its transaction comes back
    fresh = ChainSim(make_genesis())
    pool2 = Mempool()
    pool2.on_head_change(fresh.state, [], [block], NOW)
    assert tx0.id in pool2


def test_expired_transactions_are_evicted(sim: ChainSim) -> None:
    pool = Mempool()
    s = sim.state
    tx = make_tx(s, "alice", Transfer("bob", 1), expiration=NOW + 10)
    pool.add(tx, s, NOW)
    pool.on_head_change(s, [], [], NOW + 11)
    assert tx.id not in pool


def test_signature_verified_once(sim: ChainSim) -> None:
    pool = Mempool()
    s = sim.state
    tx = transfer(s, "alice", "bob", 1)
    pool.add(tx, s, NOW)
    assert pool.sig_cache.is_verified(tx, s.accounts["alice"].key)
    assert pool.tx_cache.get(tx.to_dict()) is tx


def test_a_dropped_transaction_leaves_a_gap_the_sender_can_fill(sim: ChainSim) -> None:
    s = sim.state
    first = transfer(s, "alice", "bob", 1, nonce=0)
    second = transfer(s, "alice", "bob", 2, nonce=1)
    pool = pending(s, first, second)
    assert pool.next_nonce("alice", 0) == 2 and pool.pending_count("alice") == 2
    pool.remove([first.id])  # e.g. it failed in a block
    assert pool.select(s, 10) == []  # the second waits for its nonce
    assert pool.next_nonce("alice", 0) == 0
    with pytest.raises(NonceMismatch, match="next nonce is 0"):
        pool.add(transfer(s, "alice", "bob", 3, nonce=2), s, NOW)
    filler = transfer(s, "alice", "alice", 1, nonce=0)
    pool.add(filler, s, NOW)
    assert [t.id for t in pool.select(s, 10)] == [filler.id, second.id]
    assert pool.next_nonce("alice", 0) == 2


def test_a_replica_orders_and_cuts_by_the_nodes_numbers(sim: ChainSim) -> None:
    """Equal fees go in the node's arrival order, which a replica keeps even when it takes the
    transactions in another order and at other times; ``max_seq`` cuts both alike."""
    s = sim.state
    txs = [transfer(s, sender, "alpha", 1, nonce=0, fee=10) for sender in ("carol", "alice", "bob")]
    node = Mempool()
    for tx in txs:
        node.add(tx, s, NOW)
    seqs = {tx.id: node.seq_of(tx.id) for tx in txs}
    replica = Mempool()
    for offset, tx in enumerate(reversed(txs)):  # other order, other arrival times
        replica.add(tx, s, NOW + 100 * offset, seq=seqs[tx.id])
    assert [t.id for t in node.select(s, 10)] == [t.id for t in txs]
    assert [t.id for t in replica.select(s, 10)] == [t.id for t in txs]
    assert replica.last_seq == node.last_seq
    cut = seqs[txs[1].id]
    assert [t.id for t in replica.select(s, 10, max_seq=cut)] == [t.id for t in txs[:2]]
    assert [t.id for t in node.select(s, 10, max_seq=cut)] == [t.id for t in txs[:2]]


def test_a_cut_stops_a_senders_queue_at_the_first_later_transaction(sim: ChainSim) -> None:
    s = sim.state
    a0 = transfer(s, "alice", "bob", 1, nonce=0)
    b0 = transfer(s, "bob", "alice", 1, nonce=0)
    a1 = transfer(s, "alice", "bob", 1, nonce=1)
    pool = pending(s, a0, b0, a1)
    assert {t.id for t in pool.select(s, 10, max_seq=pool.seq_of(b0.id))} == {a0.id, b0.id}
