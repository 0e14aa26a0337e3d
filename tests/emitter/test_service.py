"""The emitter against a real node: selection, lateness, equivocation, fallback, restart."""

from __future__ import annotations

from contextlib import AsyncExitStack
from dataclasses import replace
from pathlib import Path

import pytest

from chain.core import Block
from chain.core.containers import Transfer
from emitter import crud
from emitter.crud import AlreadyEmitted, EventRecord
from producer_client import PoolError
from tests.emitter.conftest import (
    PoolHarness,
    eventually,
    record_elsewhere,
    restart_pool,
    start_node,
    start_pool,
)
from tests.helpers.chain import key_for
from tests.helpers.node import signed_tx, transfer_tx

pytestmark = pytest.mark.anyio


def arrivals(h: PoolHarness, slot: int) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for e in crud.list_events(h.emitter.engine, kind="arrival", slot=slot):
        found.setdefault(e["member"], []).append(e["verdict"])
    return found


async def test_first_valid_delivery_wins_over_an_earlier_invalid_one(pool: PoolHarness) -> None:
    await pool.open_slot(1, 10)
    good = pool.candidate("alice")
    bad = pool.candidate("bob")
    bad = Block(replace(bad.header, state_root="00" * 32), ()).signed_by_builder(key_for("bob"))
    with pytest.raises(PoolError) as info:
        await pool.members["bob"].submit_candidate(bad)
    assert info.value.status == 400 and info.value.code in ("state_root_mismatch", "tx_root_mismatch")
    result = await pool.members["alice"].submit_candidate(good)
    assert result["verdict"] == "selected" and result["selected"] is True
    await pool.node_has_slot(1)
    assert pool.node.head_block is not None
    assert pool.node.head_block.header.builder == "alice" and pool.node.head_block.id == good.id
    await pool.close_slot(1)
    detail = await pool.members["alice"].slot_outcome(1)
    assert detail["outcome"] == "emitted" and detail["winner"] == "alice"
    verdicts = {a["member"]: a["verdict"] for a in detail["arrivals"]}
    assert verdicts["alice"] == "selected" and verdicts["bob"] in ("state_root_mismatch", "tx_root_mismatch")
    assert [a["offset_ms"] for a in detail["arrivals"]] == [10, 10]
    # which node took the block is recorded with the slot's outcome
    assert crud.get_emission(pool.emitter.engine, slot=1)["accepted_by"] == pool.node_url


async def test_second_valid_candidate_is_validated_against_the_parent(pool: PoolHarness) -> None:
    await pool.open_slot(1)
    first, second = pool.candidate("alice"), pool.candidate("bob")
    assert (await pool.members["alice"].submit_candidate(first))["selected"]
    result = await pool.members["bob"].submit_candidate(second)
    assert result == result | {"verdict": "valid", "selected": False}
    await pool.close_slot(1)
    stats = (await pool.members["bob"].me())["stats"]
    assert stats == stats | {"deliveries": 1, "valid": 1, "wins": 0}


async def test_late_candidate_is_logged_as_late(pool: PoolHarness) -> None:
    await pool.open_slot(1)
    candidate = pool.candidate("carol")
    pool.clock.at_slot(1, pool.cutoff + 5)
    with pytest.raises(PoolError) as info:
        await pool.members["carol"].submit_candidate(candidate)
    # Past the cutoff the slot may already have closed: "late" either way.
    assert info.value.status == 409 and info.value.code == "late"
    assert "cutoff" in info.value.message or "closed" in info.value.message
    assert arrivals(pool, 1)["carol"] == ["late"]
    await pool.close_slot(1)
    with pytest.raises(PoolError) as info:
        await pool.members["carol"].submit_candidate(candidate)
    assert info.value.code == "late" and "closed" in info.value.message


async def test_equivocation_is_detected_and_both_kept(pool: PoolHarness) -> None:
    await pool.open_slot(1)
    g = pool.network.genesis
    a = pool.candidate("alice")
    pool.clock.at_slot(1, 1)
    b = pool.candidate("alice", [transfer_tx(g, "bob", "carol", 1)])
    first = await pool.members["alice"].submit_candidate(a)
    assert first["selected"]
    with pytest.raises(PoolError) as info:
        await pool.members["alice"].submit_candidate(b)
    assert info.value.status == 409 and info.value.code == "equivocation"
    evidence = crud.list_evidence(pool.emitter.engine, slot=1)
    assert {e["block_id"] for e in evidence} == {a.id, b.id}
    assert arrivals(pool, 1)["alice"] == ["selected", "equivocation"]
    with pytest.raises(PoolError) as info:
        await pool.members["alice"].submit_candidate(a)  # same instant: the very same signature
    assert info.value.code == "replayed_request"
    pool.clock.at_slot(1, 2)
    with pytest.raises(PoolError) as info:
        await pool.members["alice"].submit_candidate(a)
    assert info.value.code == "duplicate"


async def test_fallback_fills_a_slot_nobody_delivered(pool: PoolHarness) -> None:
    tx = transfer_tx(pool.network.genesis, "dave", "alice", 5_0000)
    pool.node.submit_transaction(tx.to_dict(), gossip=False)
    await eventually(lambda: tx.id in pool.emitter.follower.mempool, what="the mempool mirror")
    await pool.open_slot(1)
    await pool.close_slot(1)
    await pool.node_has_slot(1)
    block = pool.node.head_block
    assert block is not None and block.header.builder == "pool"
    assert [t.id for t in block.transactions] == [tx.id]
    outcome = crud.slot_outcomes(pool.emitter.engine, limit=1)[0]
    assert outcome["slot"] == 1 and outcome["verdict"] == "fallback"
    emission = crud.get_emission(pool.emitter.engine, slot=1)
    assert emission is not None and emission["source"] == "fallback_local"


async def test_fallback_none_misses_the_slot(tmp_path: Path) -> None:
    async with AsyncExitStack() as stack:
        h = await start_pool(stack, tmp_path, f"sqlite:///{tmp_path / 'e.db'}", fallback="none")
        await h.open_slot(1)
        await h.close_slot(1)
        assert crud.get_emission(h.emitter.engine, slot=1) is None
        assert crud.slot_outcomes(h.emitter.engine, limit=1)[0]["verdict"] == "missed"
        await h.open_slot(2)
        assert (await h.members["bob"].submit_candidate(h.candidate("bob")))["selected"]
        await h.node_has_slot(2)
        assert h.node.state.producers["pool"].missed_total == 1


async def test_restart_in_the_middle_of_a_window_never_emits_twice(tmp_path: Path, database_url: str) -> None:
    db = database_url
    async with AsyncExitStack() as stack:
        async with AsyncExitStack() as first:
            h = await start_pool(first, tmp_path, db, node_stack=stack)
            node, clock = h.node, h.clock
            await h.open_slot(1)
            winner = h.candidate("alice")
            assert (await h.members["alice"].submit_candidate(winner))["selected"]
            await h.node_has_slot(1)
            # The emitter crashes right after recording slot 2's block, before any node got it.
            await h.open_slot(2)
            recorded = record_elsewhere(h, 2, "bob")
        assert node.state.slot == 1
        # Restart inside slot 2: the recorded block is pushed; no second block is ever made.
        clock.at_slot(2, 50)
        h2 = await restart_pool(stack, tmp_path, h)
        await h2.node_has_slot(2)
        assert node.head_block is not None and node.head_block.id == recorded.id
        assert h2.emitter.run is None or h2.emitter.run.slot != 2
        for slot, member in ((1, "carol"), (2, "carol")):
            with pytest.raises(PoolError) as info:
                await h2.members[member].submit_candidate(winner if slot == 1 else recorded)
            assert info.value.code in ("late", "builder_mismatch")
        with pytest.raises(AlreadyEmitted):
            crud.record_arrival(
                h2.emitter.engine,
                arrival=EventRecord(kind="arrival", ts_ms=1, slot=2, member="carol"),
                emission={
                    "slot": 2,
                    "block_id": "ff" * 32,
                    "height": 2,
                    "builder": "carol",
                    "source": "member",
                    "emitted_ms": 1,
                    "fees": 0,
                    "data": b"{}",
                    "accepted_by": None,
                },
            )
        # The window goes on normally with the restarted emitter.
        await h2.open_slot(3)
        assert (await h2.members["carol"].submit_candidate(h2.candidate("carol")))["selected"]
        await h2.node_has_slot(3)
        assert node.state.height == 3


async def test_every_rejection_is_a_4xx_naming_it_and_logged(pool: PoolHarness) -> None:
    g = pool.network.genesis
    alice = pool.members["alice"]
    with pytest.raises(PoolError) as info:
        await alice.submit_candidate(pool.candidate("alice", slot=1))
    assert (info.value.status, info.value.code) == (409, "wrong_slot")
    await pool.open_slot(1)
    # builder must be the requesting member
    with pytest.raises(PoolError) as info:
        await alice.submit_candidate(pool.candidate("bob"))
    assert (info.value.status, info.value.code) == (400, "builder_mismatch")
    # bad builder signature
    c = pool.candidate("alice")
    forged = Block(
        c.header,
        c.transactions,
        builder_signature=key_for("bob").sign(b"bppool/candidate/v1", c.header.canonical),
    )
    with pytest.raises(PoolError) as info:
        await alice.submit_candidate(forged)
    assert (info.value.status, info.value.code) == (400, "bad_builder_signature")
    # an invalid transaction inside
    bad_tx = transfer_tx(g, "dave", "bob", 10**15)
    built = pool.candidate("bob")
    from chain.core.transition import compute_tx_root

    header = replace(built.header, tx_root=compute_tx_root([bad_tx]))
    with pytest.raises(PoolError) as info:
        await pool.members["bob"].submit_candidate(Block(header, (bad_tx,)).signed_by_builder(key_for("bob")))
    assert (info.value.status, info.value.code) == (400, "invalid_transaction")
    # malformed
    with pytest.raises(PoolError) as info:
        await pool.members["carol"].submit_candidate(b'{"header": 1}')
    assert (info.value.status, info.value.code) == (400, "malformed")
    # wrong parent
    other = pool.candidate("carol")
    wrong = Block(replace(other.header, prev_id="ab" * 32), ()).signed_by_builder(key_for("carol"))
    with pytest.raises(PoolError) as info:
        await pool.members["carol"].submit_candidate(wrong)
    assert (info.value.status, info.value.code) == (409, "wrong_parent")
    logged = {(e["member"], e["verdict"]) for e in crud.list_events(pool.emitter.engine, kind="arrival")}
    for expected in [
        ("alice", "wrong_slot"),
        ("alice", "builder_mismatch"),
        ("alice", "bad_builder_signature"),
        ("bob", "invalid_transaction"),
        ("carol", "malformed"),
        ("carol", "wrong_parent"),
    ]:
        assert expected in logged, expected
    metrics = (await pool.admin._http.get("/metrics")).text
    assert 'bppool_emitter_candidates_received_total{member="alice",result="builder_mismatch"} 1.0' in metrics


async def test_member_authentication(pool: PoolHarness) -> None:
    import httpx

    from pool_protocol.requests import request_headers

    info = await pool.admin.info()
    async with httpx.AsyncClient(base_url=pool.emitter_url) as http:
        r = await http.get("/v1/pool/slots/current")
        assert r.status_code == 401 and r.json()["error"]["code"] == "unauthenticated"

        def headers(
            member: str, key_name: str, ts: int, path: str = "/v1/pool/slots/current"
        ) -> dict[str, str]:
            return request_headers(
                key_for(key_name),
                member,
                chain_id=info["chain_id"],
                pool="pool",
                method="GET",
                path=path,
                timestamp=ts,
                body=b"",
            )

        now = pool.clock.now_ms()
        r = await http.get("/v1/pool/slots/current", headers=headers("alice", "alice", now - 31_000))
        assert r.status_code == 401 and r.json()["error"]["code"] == "stale_request"
        r = await http.get("/v1/pool/slots/current", headers=headers("zed", "alice", now))
        assert r.status_code == 401 and r.json()["error"]["code"] == "unknown_member"
        r = await http.get("/v1/pool/slots/current", headers=headers("alice", "bob", now))
        assert r.status_code == 401 and r.json()["error"]["code"] == "bad_request_signature"
        good = headers("alice", "alice", now)
        assert (await http.get("/v1/pool/slots/current", headers=good)).status_code == 200
        r = await http.get("/v1/pool/slots/current", headers=good)
        assert r.status_code == 401 and r.json()["error"]["code"] == "replayed_request"
        # a suspended member is known but refused with 403
        await pool.admin.admin_member("carol", "suspend")
        r = await http.get("/v1/pool/slots/current", headers=headers("carol", "carol", now + 1))
        assert r.status_code == 403 and "suspended" in r.json()["error"]["message"]
        # admin actions need the pool key
        r = await http.post(
            "/v1/pool/admin/members/carol/reinstate",
            headers=request_headers(
                key_for("alice"),
                "alice",
                chain_id=info["chain_id"],
                pool="pool",
                method="POST",
                path="/v1/pool/admin/members/carol/reinstate",
                timestamp=now + 2,
                body=b"",
            ),
        )
        assert r.status_code == 403 and r.json()["error"]["code"] == "not_pool_admin"


async def test_the_intake_refuses_unsigned_and_oversized_deliveries(pool: PoolHarness) -> None:
    import httpx

    limit = pool.emitter.settings.max_candidate_bytes
    async with httpx.AsyncClient(base_url=pool.emitter_url) as http:
        r = await http.post("/v1/pool/candidates", content=b"{}")
        assert r.status_code == 401 and r.json()["error"]["code"] == "unauthenticated"
        r = await http.post("/v1/pool/candidates", content=b"x" * (limit + 1))
        assert r.status_code == 413 and r.json()["error"]["code"] == "body_too_large"
        # the intake is served ahead of the ASGI app, and still documented in its OpenAPI
        assert "/v1/pool/candidates" in (await http.get("/openapi.json")).json()["paths"]
    metrics = (await pool.admin._http.get("/metrics")).text
    assert 'bppool_emitter_requests_rejected_total{reason="unauthenticated"} 1.0' in metrics


async def test_applications(pool: PoolHarness) -> None:
    dave = pool.members["dave"]
    with pytest.raises(PoolError) as info:
        await dave.apply(constitution_hash="00" * 32)
    assert info.value.code == "stale_constitution"
    assert (await dave.apply("https://dave.example"))["status"] == "applied"
    with pytest.raises(PoolError) as info:
        await dave.current_slot()
    assert info.value.status == 403
    me = await dave.me()
    assert me["status"] == "applied"
    await pool.admin.admin_member("dave", "admit")
    pool.clock.set(pool.clock.now_ms() + 1)  # a new timestamp: the same request signed anew
    assert (await dave.me())["status"] == "active"
    members = {m["account"]: m for m in (await dave.members())["members"]}
    assert members["dave"]["status"] == "active"
    # a key that is not the account's key on chain is refused
    from producer_client import Client

    imposter = Client(pool.emitter_url, account="dave", key=key_for("mallory"), clock=pool.clock)
    with pytest.raises(PoolError) as info:
        await imposter.apply()
    assert info.value.code == "key_mismatch"
    await imposter.aclose()
    events = crud.list_events(pool.emitter.engine, kind="member", member="dave")
    assert [e["verdict"] for e in events] == ["applied", "active"]


async def test_slot_feed_pushes_slot_open(pool: PoolHarness) -> None:
    import asyncio

    received: list[tuple[str, dict]] = []

    async def listen() -> None:
        async for event, data in pool.members["bob"].slot_feed():
            received.append((event, data))
            if event == "slot_open":
                return

    task = asyncio.create_task(listen())
    await eventually(lambda: pool.emitter.feed.subscribers > 0, what="a feed subscriber")
    await pool.open_slot(1)
    await asyncio.wait_for(task, 5)
    event, data = received[-1]
    assert event == "slot_open" and data["slot"] == 1 and data["prev_id"] == pool.node.chain_id
    assert data["deadline_ms"] - data["slot_start_ms"] == pool.cutoff
    polled = await pool.members["bob"].current_slot()
    assert polled["open"]["slot"] == 1


async def test_best_fees_waits_for_the_cutoff(tmp_path: Path) -> None:
    async with AsyncExitStack() as stack:
        h = await start_pool(stack, tmp_path, f"sqlite:///{tmp_path / 'e.db'}", strategy="best_fees")
        g = h.network.genesis
        rich = [signed_tx(g, "dave", Transfer("bob", 1), fee=500)]
        await h.open_slot(1)
        cheap = h.candidate("alice")
        dear = h.candidate("bob", rich)
        assert (await h.members["alice"].submit_candidate(cheap))["verdict"] == "valid"
        assert (await h.members["bob"].submit_candidate(dear))["verdict"] == "valid"
        assert h.emitter.run is not None and h.emitter.run.emitted is None
        await h.close_slot(1)
        await h.node_has_slot(1)
        assert h.node.head_block is not None and h.node.head_block.id == dear.id


async def test_identical_content_is_judged_once_but_each_builder_signature_is_checked(
    pool: PoolHarness,
) -> None:
    await pool.open_slot(1)
    base = pool.candidate("alice")
    assert (await pool.members["alice"].submit_candidate(base))["selected"]
    twin = Block(replace(base.header, builder="bob"), base.transactions).signed_by_builder(key_for("bob"))
    result = await pool.members["bob"].submit_candidate(twin)
    assert result["verdict"] == "valid" and not result["selected"]
    assert len(pool.emitter.run.verdicts) == 1 if pool.emitter.run else True
    forged_header = replace(base.header, builder="carol")
    forged = Block(
        forged_header,
        base.transactions,
        builder_signature=key_for("bob").sign(b"bppool/candidate/v1", forged_header.canonical),
    )
    with pytest.raises(PoolError) as info:
        await pool.members["carol"].submit_candidate(forged)
    assert info.value.code == "bad_builder_signature"


async def test_a_node_missing_earlier_pool_blocks_gets_them_from_the_emission_records(
    pool: PoolHarness, tmp_path: Path
) -> None:
    """A node that never saw slot 1's block answers ``unknown_parent`` to slot 2's: the emitter
    pushes the recorded ancestors first, then the block, and the node ends on the pool's chain."""
    from chain.client.http import AsyncNodeClient

    for slot, member in ((1, "alice"), (2, "bob")):
        await pool.open_slot(slot)
        assert (await pool.members[member].submit_candidate(pool.candidate(member)))["selected"]
        await pool.node_has_slot(slot)
        await pool.close_slot(slot)
    second = crud.get_emission(pool.emitter.engine, slot=2)
    assert second is not None
    async with AsyncExitStack() as stack:
        fresh, fresh_url = await start_node(stack, tmp_path / "fresh", pool.clock, pool.network)
        client = AsyncNodeClient(fresh_url)
        stack.push_async_callback(client.aclose)
        delivery = pool.emitter.delivery
        saved = delivery.pushers
        delivery.pushers = [client]
        try:
            await delivery.push(bytes(second["data"]), 2, None)
        finally:
            delivery.pushers = saved
        assert fresh.state.slot == 2 and fresh.state.head_id == pool.node.state.head_id


def counter(registry: object, name: str, **labels: str) -> float:
    value = registry.get_sample_value(name, labels)  # type: ignore[attr-defined]
    return float(value or 0.0)


async def expect_slot_1(pool: PoolHarness, txs: list) -> None:  # type: ignore[type-arg]
    """Transactions in the node's mempool, the clock just before slot 1: the emitter validates
    the block members are expected to build, and has the node validate it too."""
    for tx in txs:
        pool.node.submit_transaction(tx.to_dict(), gossip=False)
    await eventually(lambda: all(t.id in pool.emitter.follower.mempool for t in txs), what="the mirror")
    pool.clock.at_slot(1, -100)  # within the lead time (150 ms)
    await eventually(lambda: pool.emitter.expected is not None, what="the expected block")
    expected = pool.emitter.expected
    assert expected is not None and expected.slot == 1 and expected.tx_count == len(txs)
    await eventually(lambda: len(pool.node.outcomes) == 1, what="the node to prepare it")


async def test_a_candidate_of_the_expected_block_is_judged_by_its_signatures(pool: PoolHarness) -> None:
    g = pool.network.genesis
    txs = [transfer_tx(g, sender, "dave", 2) for sender in ("alice", "bob", "carol")]
    await expect_slot_1(pool, txs)
    await pool.open_slot(1, 5)
    run = pool.emitter.run
    assert run is not None
    tx_seq = pool.emitter.expectation.expected_seq(run)
    assert tx_seq == pool.emitter.expected.tx_seq  # type: ignore[union-attr]
    # Built as the producer client builds: the mempool's selection up to tx_seq
    mirror = pool.emitter.follower
    selection = mirror.mempool.select(mirror.state, 100, max_seq=tx_seq)
    candidate = pool.candidate("bob", selection)
    result = await pool.members["bob"].submit_candidate(candidate)
    assert result["selected"]
    await pool.node_has_slot(1)
    head = pool.node.head_block
    assert head is not None and head.id == candidate.id and head.header.builder == "bob"
    assert {t.id for t in head.transactions} == {t.id for t in txs}
    emitter_metrics, node_metrics = pool.emitter.metrics.registry, pool.node.metrics.registry
    assert counter(emitter_metrics, "bppool_emitter_validation_path_total", path="known") == 1
    assert counter(emitter_metrics, "bppool_emitter_validation_path_total", path="full") == 0
    assert counter(node_metrics, "bppool_chain_block_prepares_total", path="known") == 1
    # The node's state is exactly what a full validation gives
    from chain.core import compute_full_state_root

    assert compute_full_state_root(pool.node.state) == head.header.state_root


async def test_another_selection_is_validated_in_full_and_still_emitted(pool: PoolHarness) -> None:
    g = pool.network.genesis
    txs = [transfer_tx(g, sender, "dave", 2) for sender in ("alice", "bob", "carol")]
    await expect_slot_1(pool, txs)
    await pool.open_slot(1, 5)
    candidate = pool.candidate("carol", txs[:2])  # a member that left one out
    assert (await pool.members["carol"].submit_candidate(candidate))["selected"]
    await pool.node_has_slot(1)
    assert pool.node.head_block is not None and pool.node.head_block.id == candidate.id
    emitter_metrics = pool.emitter.metrics.registry
    assert counter(emitter_metrics, "bppool_emitter_validation_path_total", path="full") == 1
    assert counter(emitter_metrics, "bppool_emitter_validation_path_total", path="known") == 0


async def test_slot_open_names_the_selection_only_when_validated_ahead(pool: PoolHarness) -> None:
    await pool.open_slot(1)  # the clock jumped past the lead time: nothing validated ahead
    run = pool.emitter.run
    assert run is not None and pool.emitter.expectation.expected_seq(run) is None
