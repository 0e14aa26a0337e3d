"""The bytes a block is stored, served and pushed as.

One definition for the node's block store, its API and gossip, and the pool service's pushes:
a block travels as its canonical JSON (:meth:`chain.core.containers.Block.canonical`).
"""

from __future__ import annotations

from .containers import Block


def encode_block(block: Block) -> bytes:
    """The stored (and served) bytes of a block: its canonical JSON."""
    return block.canonical()
