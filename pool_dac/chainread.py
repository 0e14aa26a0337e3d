"""Reading an epoch's blocks from a chain node (the DAC service and ``bppool dac audit``)."""

from __future__ import annotations

from chain.client.http import AsyncNodeClient, NodeError
from chain.core import Block

BATCH = 200


async def first_height_at_or_after(node: AsyncNodeClient, slot: int) -> int | None:
    """The lowest canonical height whose block's slot is ``slot`` or later (binary search)."""
    info = await node.get_info()
    low, high = 1, int(info["head_block_num"])
    if high < 1:
        return None
    found = None
    while low <= high:
        mid = (low + high) // 2
        block = await node.get_block(mid)
        if block["header"]["slot"] >= slot:
            found, high = mid, mid - 1
        else:
            low = mid + 1
    return found


async def fetch_blocks(node: AsyncNodeClient, start_slot: int, end_slot: int) -> list[Block]:
    """Canonical blocks with ``start_slot <= slot < end_slot``, in order."""
    height = await first_height_at_or_after(node, start_slot)
    blocks: list[Block] = []
    while height is not None:
        try:
            batch = await node.blocks(height, BATCH)
        except NodeError:
            raise
        for data in batch:
            block = Block.from_dict(data)
            if block.slot >= end_slot:
                return blocks
            blocks.append(block)
        if len(batch) < BATCH:
            return blocks
        height = batch[-1]["header"]["height"] + 1
    return blocks
