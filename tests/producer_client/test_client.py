"""The member SDK against the real emitter app through httpx's ASGI transport."""

from __future__ import annotations

import httpx
import pytest

from emitter.main import create_app
from producer_client import Client, PoolError
from producer_client.builder import CandidateError, build_candidate
from tests.emitter.conftest import PoolHarness
from tests.helpers.chain import key_for
from tests.helpers.node import transfer_tx

pytestmark = pytest.mark.anyio


def asgi_client(pool: PoolHarness, account: str) -> Client:
    transport = httpx.ASGITransport(app=create_app(pool.emitter, start=False, extensions=False))
    return Client("http://pool", account=account, key=key_for(account), clock=pool.clock, transport=transport)


async def test_every_member_endpoint_through_the_sdk(pool: PoolHarness) -> None:
    dave = asgi_client(pool, "dave")
    admin = asgi_client(pool, "pool")
    alice = asgi_client(pool, "alice")
    try:
        info = await dave.info()
        assert info["pool"] == "pool" and info["strategy"] == "first_delivered"
        text, digest = await dave.constitution()
        assert "constitution" in text.lower() and digest == info["constitution_hash"]
        assert (await dave.apply("https://dave.example"))["status"] == "applied"
        assert (await dave.me())["status"] == "applied"
        assert (await admin.admin_member("dave", "admit"))["status"] == "active"
        pool.clock.set(pool.clock.now_ms() + 1)
        assert (await dave.me())["status"] == "active"
        assert {m["account"] for m in (await dave.members())["members"]} >= {"alice", "dave"}
        await pool.open_slot(1)
        current = await alice.current_slot()
        assert current["open"]["slot"] == 1
        tx = transfer_tx(pool.network.genesis, "carol", "bob", 3)
        state = pool.emitter.follower.state
        candidate = build_candidate(
            state,
            slot=1,
            pool="pool",
            builder="alice",
            key=key_for("alice"),
            transactions=[tx],
            sig_cache=pool.emitter.follower.sig_cache,
        )
        result = await alice.submit_candidate(candidate.block)
        assert result["selected"] and result["slot"] == 1
        await pool.close_slot(1)
        outcome = await dave.slot_outcome(1)
        assert outcome["winner"] == "alice"
        events = await dave.events(after_id=0, limit=3)
        assert len(events["events"]) == 3 and events["next_after_id"] == events["events"][-1]["id"]
        with pytest.raises(PoolError) as info_err:
            await dave.slot_outcome(999)
        assert info_err.value.status == 404 and info_err.value.code == "not_found"
        with pytest.raises(PoolError) as info_err:
            await dave.admin_member("alice", "suspend")
        assert info_err.value.code == "not_pool_admin"
    finally:
        for client in (dave, admin, alice):
            await client.aclose()


async def test_unreachable_emitter_is_a_clear_error(pool: PoolHarness) -> None:
    client = Client("http://127.0.0.1:9", account="alice", key=key_for("alice"))
    with pytest.raises(PoolError) as info:
        await client.info()
    assert info.value.status == 0 and info.value.code == "unreachable"
    await client.aclose()


async def test_builder_refuses_a_slot_of_another_producer(pool: PoolHarness) -> None:
    with pytest.raises(CandidateError, match="belongs to pool"):
        build_candidate(
            pool.emitter.follower.state,
            slot=1,
            pool="alice",
            builder="alice",
            key=key_for("alice"),
            transactions=[],
        )
