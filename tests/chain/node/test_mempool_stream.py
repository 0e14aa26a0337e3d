"""The head stream carries the mempool to followers, which then stop polling for it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from chain.client.follower import ChainFollower
from chain.client.http import AsyncNodeClient
from chain.node.api import create_app
from tests.chain.node.conftest import NodeHarness
from tests.helpers.chain import transfer
from tests.helpers.servers import serve_app

pytestmark = pytest.mark.anyio


def count_calls(obj: object, name: str) -> list[int]:
    """Count the calls of ``obj``'s async method ``name`` (the count is the list's one item)."""
    calls = [0]
    original = getattr(obj, name)

    async def counting(*args: object, **kwargs: object) -> object:
        calls[0] += 1
        return await original(*args, **kwargs)

    setattr(obj, name, counting)
    return calls


async def test_the_head_stream_brings_new_transactions_with_their_numbers(harness: NodeHarness) -> None:
    node = harness.node
    before = transfer(node.state, "alice", "bob", 1, nonce=0)
    node.submit_transaction(before.to_dict())
    async with serve_app(create_app(node)) as url:
        client = AsyncNodeClient(url)
        received: list[tuple[str, dict]] = []

        async def listen(include_mempool: bool) -> None:
            async for event, data in client.head_stream(include_mempool=include_mempool):
                received.append((event, data))
                if event == "mempool" or (event == "head" and not include_mempool):
                    return

        task = asyncio.create_task(listen(True))
        while not node.events.subscribers:
            await asyncio.sleep(0.01)
        tx = transfer(node.state, "alice", "bob", 1, nonce=1)
        node.submit_transaction(tx.to_dict())
        await asyncio.wait_for(task, 5)
        hello, (event, data) = received[0], received[-1]
        # the hello says where the stream starts: the earlier transaction is before it
        assert hello[0] == "hello" and hello[1]["mempool_seq"] == node.mempool.seq_of(before.id)
        assert event == "mempool" and [t["signature"] for t in data["transactions"]] == [tx.signature]
        assert data["seqs"] == [node.mempool.seq_of(tx.id)] and data["last_seq"] == node.mempool.last_seq

        # without include_mempool a stream never sees them
        received.clear()
        task = asyncio.create_task(listen(False))
        while node.events.subscribers < 1:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
        node.submit_transaction(transfer(node.state, "alice", "bob", 1, nonce=2).to_dict())
        await asyncio.sleep(0.05)
        await harness.produce(1)
        await asyncio.wait_for(task, 5)
        assert [e for e, _ in received] == ["hello", "head"]
        await client.aclose()


async def test_a_follower_mirrors_the_mempool_from_the_stream_without_polling(
    harness: NodeHarness, tmp_path: Path
) -> None:
    node = harness.node
    early = transfer(node.state, "alice", "bob", 1, nonce=0)
    node.submit_transaction(early.to_dict())  # before the follower: fetched once at the hello
    async with serve_app(create_app(node)) as url:
        # Polls an hour apart: whatever reaches the mirror after the first look came by the stream.
        follower = ChainFollower(node.genesis, url, mempool_poll_s=3600, clock=harness.clock)
        polls = count_calls(follower.client, "mempool_updates")
        await follower.start()
        try:
            await asyncio.wait_for(follower.synced.wait(), 5)
            for _ in range(500):
                if follower.mempool_streamed and early.id in follower.mempool:
                    break
                await asyncio.sleep(0.01)
            assert follower.mempool_streamed and early.id in follower.mempool
            looked = polls[0]
            later = [transfer(node.state, "alice", "bob", 1, nonce=n) for n in (1, 2, 3)]
            for tx in later:
                node.submit_transaction(tx.to_dict())
            for _ in range(500):
                if all(tx.id in follower.mempool for tx in later):
                    break
                await asyncio.sleep(0.01)
            assert all(tx.id in follower.mempool for tx in later)
            assert polls[0] == looked  # no poll since the stream started
            # the mirror numbers them as the node does
            numbers = [node.mempool.seq_of(tx.id) for tx in later]
            assert [follower.mempool.seq_of(tx.id) for tx in later] == numbers
        finally:
            await follower.stop()


@pytest.mark.parametrize("stream_blocks", [True, False])
async def test_a_follower_follows_blocks_streamed_or_named(harness: NodeHarness, stream_blocks: bool) -> None:
    node = harness.node
    async with serve_app(create_app(node)) as url:
        follower = ChainFollower(node.genesis, url, clock=harness.clock, stream_blocks=stream_blocks)
        fetched = count_calls(follower.client, "blocks")
        await follower.start()
        try:
            await asyncio.wait_for(follower.synced.wait(), 5)
            while not node.events.subscribers:
                await asyncio.sleep(0.01)
            after_sync = fetched[0]
            for slot in (1, 2):
                node.submit_transaction(transfer(node.state, "alice", "bob", 1, nonce=slot - 1).to_dict())
                await harness.produce(slot)
                for _ in range(500):
                    if follower.state.head_id == node.state.head_id:
                        break
                    await asyncio.sleep(0.01)
                assert follower.state.head_id == node.state.head_id and follower.state.height == slot
            # named blocks are fetched (one request per new block); streamed ones are not
            assert fetched[0] - after_sync == (0 if stream_blocks else 2)
        finally:
            await follower.stop()
