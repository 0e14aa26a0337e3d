"""The node's peers: gossip out, sync in.

Admitted transactions and accepted blocks are pushed to every peer. A periodic sync (and one
at once when a pushed block's parent is unknown) asks each peer for its head and pulls the
blocks it lacks: from its own head, or from its LIB when it finds itself on another branch.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

import httpx

from chain.client.http import AsyncNodeClient, NodeError
from chain.core import Block, ChainError, Transaction
from chain.core.containers import encode_block
from chain.core.errors import UnknownParent
from service_shell.web import ApiError

if TYPE_CHECKING:
    from chain.node.node import Node

log = logging.getLogger("bppool.node")

SYNC_BATCH = 200


class PeerSync:
    """Gossip to and sync from the node's peers (``settings.peers``)."""

    def __init__(self, node: Node, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.node = node
        self.peers = [AsyncNodeClient(url, transport=transport, timeout=2.0) for url in node.settings.peers]
        self._now = asyncio.Event()

    def wake(self) -> None:
        """Sync now rather than at the next interval (a block's parent is unknown)."""
        self._now.set()

    async def aclose(self) -> None:
        """Close the peer connections."""
        for peer in self.peers:
            await peer.aclose()

    # --- gossip ----------------------------------------------------------------------------

    def gossip_transaction(self, tx: Transaction) -> None:
        """Push a transaction to every peer, in the background."""
        if self.peers:
            self.node.spawn(self._gossip_transaction(tx.to_dict()))

    def gossip_block(self, block: Block) -> None:
        """Push a block to every peer, in the background."""
        if self.peers:
            self.node.spawn(self._gossip_block(block))

    async def _gossip_transaction(self, data: dict[str, Any]) -> None:
        for peer in self.peers:
            try:
                await peer.push_transaction(data)
            except NodeError as exc:
                self._count_unreachable(peer, exc)

    async def _gossip_block(self, block: Block) -> None:
        data = encode_block(block)
        for peer in self.peers:
            try:
                await peer.push_block(data)
            except NodeError as exc:
                self._count_unreachable(peer, exc)

    def _count_unreachable(self, peer: AsyncNodeClient, exc: NodeError) -> None:
        # Status 0: no answer. A peer refusing what we push (it has it already) is no error.
        if exc.status == 0:
            self.node.metrics.peer_errors.labels(peer=peer.base_url).inc()

    # --- sync ------------------------------------------------------------------------------

    async def loop(self) -> None:
        """Sync every ``sync_interval_s``, or at once when woken."""
        while True:
            await self.sync_once()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._now.wait(), self.node.settings.sync_interval_s)
            self._now.clear()

    async def sync_once(self) -> int:
        """Pull blocks from every peer that is ahead; returns how many were new."""
        node = self.node
        added = 0
        for peer in self.peers:
            try:
                info = await peer.get_info()
            except NodeError:
                node.metrics.peer_errors.labels(peer=peer.base_url).inc()
                continue
            if info.get("chain_id") != node.chain_id:
                log.warning("peer %s is on another chain; ignoring it", peer.base_url)
                continue
            state = node.state
            ahead = info["head_block_num"] > state.height or (
                info["head_block_num"] == state.height and info["head_block_id"] < state.head_id
            )
            if ahead:
                added += await self._pull(peer, state.height + 1)
        return added

    async def _pull(self, peer: AsyncNodeClient, from_height: int) -> int:
        node = self.node
        added = 0
        height = from_height
        while True:
            try:
                blocks = await peer.blocks(height, SYNC_BATCH)
            except NodeError:
                node.metrics.peer_errors.labels(peer=peer.base_url).inc()
                return added
            for data in blocks:
                try:
                    _, result = await node.submit_block(data, gossip=False)
                except UnknownParent:
                    # We are on another branch: fetch the peer's chain from our LIB.
                    lib = node.store.lib_height if node.store else 0
                    if height > lib + 1:
                        return added + await self._pull(peer, lib + 1)
                    return added
                except (ChainError, ApiError) as exc:
                    log.warning("sync from %s: block refused: %s", peer.base_url, exc)
                    return added
                added += result.status != "duplicate"
            if len(blocks) < SYNC_BATCH:
                return added
            height = blocks[-1]["header"]["height"] + 1
