"""Merkle commitments: lists (transaction roots, statements) and the state tree.

Lists use the RFC 6962 tree (leaf prefix 0x00, node prefix 0x01, split at the largest power
of two below the size), which gives short inclusion proofs without duplicating leaves.

The state tree is a fixed-depth 16-ary tree over buckets: a record key's CRC-32 picks one
of 16**5 (about a million) buckets; a bucket hashes its entries (each its key's 2-byte length,
the key and its value's hash) sorted as byte strings, so shorter keys first; internal
nodes hash their sixteen children. Updating ``k`` records rehashes at most
``k`` buckets and their paths: work proportional to what changed, never to the whole state
(buckets hold about one entry each up to a million records). Spec: ``docs/spec/state.md`` §8.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Iterable, Sequence

from .types import Hash32

_sha = hashlib.sha256

# --- lists (RFC 6962) ----------------------------------------------------------------------

EMPTY_LIST_ROOT = _sha(b"").hexdigest()


def _leaf(data: bytes) -> bytes:
    return _sha(b"\x00" + data).digest()


def _node(left: bytes, right: bytes) -> bytes:
    return _sha(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def _root(leaves: Sequence[bytes]) -> bytes:
    # Iterative bottom-up fold equal to RFC 6962's recursive definition: pairing left to
    # right and carrying an odd last node up unchanged gives the same tree.
    level = list(leaves)
    while len(level) > 1:
        nxt = [_node(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


def compute_merkle_root(items: Sequence[bytes]) -> Hash32:
    """The RFC 6962 Merkle root of ``items`` (raw leaf bytes) as hex."""
    if not items:
        return Hash32(EMPTY_LIST_ROOT)
    return Hash32(_root([_leaf(x) for x in items]).hex())


def compute_leaf_hash(item: bytes) -> bytes:
    """The RFC 6962 hash of one leaf (``sha256(0x00 || item)``)."""
    return _leaf(item)


def compute_merkle_root_of_leaf_hashes(leaf_hashes: Sequence[bytes]) -> Hash32:
    """The RFC 6962 root over leaves whose hashes are already known."""
    if not leaf_hashes:
        return Hash32(EMPTY_LIST_ROOT)
    return Hash32(_root(list(leaf_hashes)).hex())


def compute_merkle_proof(items: Sequence[bytes], index: int) -> list[str]:
    """The audit path (sibling hashes, leaf to root, as hex) for ``items[index]``."""
    if not 0 <= index < len(items):
        raise IndexError("leaf index out of range")
    level = [_leaf(x) for x in items]
    path: list[str] = []
    idx = index
    while len(level) > 1:
        sibling = idx ^ 1
        if sibling < len(level):
            path.append(level[sibling].hex())
        nxt = [_node(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
        idx //= 2
    return path


def verify_merkle_proof(item: bytes, index: int, size: int, proof: Sequence[str], root: str) -> bool:
    """True when ``proof`` shows ``item`` at ``index`` of a list of ``size`` under ``root``."""
    if not 0 <= index < size:
        return False
    try:
        siblings = [bytes.fromhex(p) for p in proof]
    except ValueError:
        return False
    node = _leaf(item)
    idx, width, pos = index, size, 0
    while width > 1:
        sibling = idx ^ 1
        if sibling < width:
            if pos >= len(siblings):
                return False
            node = _node(siblings[pos], node) if idx % 2 else _node(node, siblings[pos])
            pos += 1
        idx //= 2
        width = (width + 1) // 2
    return pos == len(siblings) and node.hex() == root


# --- the state tree ------------------------------------------------------------------------

STATE_TREE_ARITY = 16
STATE_TREE_LEVELS = 5
"""Internal levels above the buckets: 16**5 = 1,048,576 buckets, so a bucket holds about
one record up to a million records and the cost of a change does not grow with the state."""
STATE_TREE_BUCKETS = STATE_TREE_ARITY**STATE_TREE_LEVELS

_VALUE_PREFIX = b"bppool/state/value\x00"
_NODE_PREFIX = b"\x01"


def _empty_hashes() -> list[bytes]:
    empty = [b""] * (STATE_TREE_LEVELS + 1)
    empty[STATE_TREE_LEVELS] = _sha(b"bppool/state/empty").digest()
    for d in range(STATE_TREE_LEVELS - 1, -1, -1):
        empty[d] = _sha(_NODE_PREFIX + empty[d + 1] * STATE_TREE_ARITY).digest()
    return empty


EMPTY_STATE_HASHES = _empty_hashes()


_BUCKET_MASK = STATE_TREE_BUCKETS - 1


def compute_bucket_index(leaf_key: bytes) -> int:
    """The bucket of a record key: the low 20 bits of its CRC-32 (placement only; the
    commitment is the sha256 tree)."""
    index: int = zlib.crc32(leaf_key) & _BUCKET_MASK
    return index


def compute_bucket_entry(leaf_key: bytes, value: bytes) -> bytes:
    """A bucket entry: ``len(key) (2 bytes) || key || sha256(value prefix || value)``;
    a bucket's entries are hashed in byte order."""
    return len(leaf_key).to_bytes(2, "big") + leaf_key + _sha(_VALUE_PREFIX + value).digest()


class StateTree:
    """The fixed-depth bucketed Merkle tree behind the state root.

    A record key's CRC-32 picks one of 16**5 buckets; a bucket hashes the concatenation of
    its entries (``compute_bucket_entry``, length-prefixed keys, in byte order); each of the
    five levels above hashes 16 children (``0x01 || c0 || ... || c15``). A 16-ary tree
    needs far fewer hashes than a binary one for the same change (5 levels instead of 20).
    Buckets are small sorted tuples, not dicts, to keep a million records compact.

    ``update`` takes the changed records only; ``hashed_nodes`` counts every hash computed
    (value hashes, bucket hashes and internal nodes), which tests use to show that cost
    follows the change, not the size.
    """

    __slots__ = ("_buckets", "_levels", "hashed_nodes", "size")

    def __init__(self) -> None:
        self._buckets: dict[int, tuple[bytes, ...]] = {}
        self._levels: list[list[bytes]] = [
            [EMPTY_STATE_HASHES[d]] * (STATE_TREE_ARITY**d) for d in range(STATE_TREE_LEVELS + 1)
        ]
        self.hashed_nodes = 0
        self.size = 0

    @property
    def root(self) -> Hash32:
        """The current root as hex."""
        return Hash32(self._levels[0][0].hex())

    def update(self, changes: Iterable[tuple[bytes, bytes | None]]) -> Hash32:
        """Apply ``(leaf key, canonical value or None to delete)`` pairs; return the new root."""
        sha = _sha
        crc = zlib.crc32
        mask = _BUCKET_MASK
        buckets = self._buckets
        dirty: set[int] = set()
        hashed = 0
        for leaf_key, value in changes:
            index = crc(leaf_key) & mask
            head = len(leaf_key).to_bytes(2, "big") + leaf_key
            entry = None if value is None else head + sha(_VALUE_PREFIX + value).digest()
            old = buckets.get(index)
            # Fast paths for the common buckets: empty, or holding just this key.
            if old is None:
                if entry is None:
                    continue
                buckets[index] = (entry,)
                self.size += 1
            elif len(old) == 1 and old[0].startswith(head):
                if entry is None:
                    del buckets[index]
                    self.size -= 1
                else:
                    buckets[index] = (entry,)
            else:
                # The length prefix makes a head match exactly one key.
                kept = [e for e in old if not e.startswith(head)]
                self.size += len(kept) - len(old)
                if entry is not None:
                    kept.append(entry)
                    kept.sort()
                    self.size += 1
                if kept:
                    buckets[index] = tuple(kept)
                else:
                    del buckets[index]
            if entry is not None:
                hashed += 1
            dirty.add(index)
        if not dirty:
            return self.root
        levels = self._levels
        bottom = levels[STATE_TREE_LEVELS]
        empty_bucket = EMPTY_STATE_HASHES[STATE_TREE_LEVELS]
        for index in dirty:
            bucket = buckets.get(index)
            bottom[index] = sha(b"".join(bucket)).digest() if bucket else empty_bucket
        hashed += len(dirty)
        for depth in range(STATE_TREE_LEVELS - 1, -1, -1):
            parents = {i >> 4 for i in dirty}  # 16 children per node
            child = levels[depth + 1]
            level = levels[depth]
            for p in parents:
                base = p << 4
                level[p] = sha(_NODE_PREFIX + b"".join(child[base : base + 16])).digest()
            hashed += len(parents)
            dirty = parents
        self.hashed_nodes += hashed
        return self.root
