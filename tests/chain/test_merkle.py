"""Merkle roots and proofs for lists; the incremental state tree."""

from __future__ import annotations

import hashlib
import random

from hypothesis import given
from hypothesis import strategies as st

from chain.core.merkle import (
    EMPTY_LIST_ROOT,
    StateTree,
    compute_merkle_proof,
    compute_merkle_root,
    verify_merkle_proof,
)


def rfc6962(items: list[bytes]) -> bytes:
    """The recursive definition from RFC 6962, as a reference."""
    if len(items) == 1:
        return hashlib.sha256(b"\x00" + items[0]).digest()
    k = 1
    while k * 2 < len(items):
        k *= 2
    return hashlib.sha256(b"\x01" + rfc6962(items[:k]) + rfc6962(items[k:])).digest()


@given(st.lists(st.binary(max_size=8), min_size=1, max_size=40))
def test_root_matches_rfc6962(items: list[bytes]) -> None:
    assert compute_merkle_root(items) == rfc6962(items).hex()


@given(st.lists(st.binary(max_size=8), min_size=1, max_size=40), st.data())
def test_proofs_verify_and_tampering_fails(items: list[bytes], data: st.DataObject) -> None:
    root = compute_merkle_root(items)
    index = data.draw(st.integers(0, len(items) - 1))
    proof = compute_merkle_proof(items, index)
    assert verify_merkle_proof(items[index], index, len(items), proof, root)
    assert not verify_merkle_proof(items[index] + b"x", index, len(items), proof, root)
    if len(items) > 1:
        other = (index + 1) % len(items)
        assert (
            not verify_merkle_proof(items[index], other, len(items), proof, root)
            or items[other] == items[index]
        )


def test_empty_list_root() -> None:
    assert compute_merkle_root([]) == EMPTY_LIST_ROOT


def test_state_tree_incremental_equals_rebuild() -> None:
    rng = random.Random(7)
    tree = StateTree()
    data: dict[bytes, bytes] = {}
    for _ in range(20):
        changes = []
        for _ in range(rng.randint(1, 50)):
            key = f"k{rng.randint(0, 300)}".encode()
            value = None if rng.random() < 0.2 else str(rng.random()).encode()
            changes.append((key, value))
            if value is None:
                data.pop(key, None)
            else:
                data[key] = value
        root = tree.update(changes)
        assert root == StateTree().update(list(data.items()))
        assert tree.size == len(data)


def test_state_tree_update_cost_follows_the_change_not_the_size() -> None:
    """Changing 10 records costs the same number of hashes in a small or a large tree."""
    costs = []
    for size in (1_000, 100_000):
        tree = StateTree()
        tree.update((f"acct/{i}".encode(), b"v") for i in range(size))
        before = tree.hashed_nodes
        tree.update((f"acct/{i}".encode(), b"w") for i in range(10))
        costs.append(tree.hashed_nodes - before)
    small, large = costs
    # 10 value hashes + 10 buckets + at most 10 nodes on each of the 5 levels above
    assert small <= 10 + 10 + 5 * 10
    assert large <= 10 + 10 + 5 * 10
    assert abs(large - small) <= 10
