"""Two pool-service instances on one PostgreSQL database, one real node, one clock (in
process): whoever claims a slot first emits, the other answers with the stored block; the
lease holder alone runs the fallback and logs what nobody claimed; writes made on the other
instance are the leader's; a clean stop hands the lease over.

The same under real processes, kill -9, SIGSTOP and a terminated database session:
tests/e2e/test_group_chaos.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import Engine

from emitter import crud, groupstore
from service_shell.db import make_engine
from tests.emitter.conftest import PoolHarness, eventually, pool_network, start_node, start_pool
from tests.helpers.chain import GENESIS_TIME
from tests.helpers.node import FakeClock

pytestmark = pytest.mark.anyio


@dataclass
class Pair:
    a: PoolHarness  # started first: it leads
    b: PoolHarness
    a_stack: AsyncExitStack  # closing it stops a alone (the node stays)
    engine: Engine  # the test's own connection to the group's database

    async def open_slot(self, slot: int) -> None:
        await self.a.open_slot(slot)
        await eventually(lambda: self.b.emitter.run is not None and self.b.emitter.run.slot == slot)

    async def close_slot(self, slot: int) -> None:
        self.a.clock.at_slot(slot, self.a.cutoff + 1)
        await eventually(
            lambda: self.a.emitter.last_closed_slot >= slot and self.b.emitter.last_closed_slot >= slot,
            what=f"slot {slot} to close on both",
        )

    def claims(self) -> dict[int, dict[str, object]]:
        return {c["slot"]: c for c in groupstore.list_claims(self.engine, producer="pool")}

    def events(self, slot: int, kind: str) -> list[dict[str, object]]:
        return [e for e in crud.list_events(self.engine, slot=slot) if e["kind"] == kind]

    def pool_blocks_on_node(self, slot: int) -> set[str]:
        with self.a.node.blockstore.engine.connect() as conn:
            rows = conn.exec_driver_sql(
                "SELECT id FROM node_block WHERE producer = 'pool' AND slot = ?", (slot,)
            ).all()
        return {r[0] for r in rows}


@pytest.fixture
async def pair(tmp_path: Path, postgres_url: str) -> AsyncIterator[Pair]:
    async with AsyncExitStack() as stack:
        clock = FakeClock(GENESIS_TIME + 100)
        network = pool_network(tmp_path)
        node, node_url = await start_node(stack, tmp_path, clock, network)  # outlives a and b
        a_stack = await stack.enter_async_context(AsyncExitStack())
        a = await start_pool(
            a_stack, tmp_path, postgres_url, network=network, clock=clock, node=node, node_url=node_url,
            instance_name="a",
        )  # fmt: skip
        await eventually(a.emitter.group.leads, what="a to lead")
        b = await start_pool(
            stack,
            tmp_path,
            postgres_url,
            network=a.network,
            clock=a.clock,
            node=a.node,
            node_url=a.node_url,
            admit=False,
            instance_name="b",
        )
        await eventually(lambda: b.emitter.group.size == 2, what="b to see the group of two")
        engine = make_engine(postgres_url)
        try:
            yield Pair(a, b, a_stack, engine)
        finally:
            engine.dispose()


async def test_two_instances_racing_with_different_candidates_emit_one_block(pair: Pair) -> None:
    await pair.open_slot(1)
    alice, bob = pair.a.candidate("alice"), pair.b.candidate("bob")
    answers = await asyncio.gather(
        pair.a.members["alice"].submit_candidate(alice), pair.b.members["bob"].submit_candidate(bob)
    )
    selected = [answer for answer in answers if answer["selected"]]
    assert len(selected) == 1, answers
    winner = selected[0]["block_id"]
    loser = next(answer for answer in answers if not answer["selected"])
    # The loser answers with the stored block: the winner's.
    assert loser["verdict"] == "valid" and loser["emitted_block_id"] == winner
    claims = pair.claims()
    assert list(claims) == [1] and claims[1]["block_id"] == winner
    await pair.a.node_has_slot(1)
    assert pair.pool_blocks_on_node(1) == {winner}
    await pair.close_slot(1)
    # One outcome for the group, counting both instances' arrivals.
    events = pair.events(1, "slot")
    assert len(events) == 1 and events[0]["verdict"] == "emitted" and events[0]["block_id"] == winner
    assert events[0]["data"]["arrivals"] == 2 and events[0]["data"]["valid"] == 2  # type: ignore[index]
    # The other instance's replica took the block from the node: both follow the same head.
    await eventually(lambda: pair.b.emitter.follower.state.head_id == winner, what="b to follow")


async def test_the_same_candidate_delivered_to_both_is_signed_once(pair: Pair) -> None:
    await pair.open_slot(1)
    block = pair.a.candidate("alice")
    to_b = pair.b.members["alice"]
    answers = await asyncio.gather(
        pair.a.members["alice"].submit_candidate(block), to_b.submit_candidate(block)
    )
    assert sorted(a["selected"] for a in answers) == [False, True], answers
    assert all(a["emitted_block_id"] == block.id for a in answers)
    assert list(pair.claims()) == [1]
    await pair.a.node_has_slot(1)
    assert pair.pool_blocks_on_node(1) == {block.id}
    # One win in the log for the DAC: one arrival selected, the other valid.
    arrivals = pair.events(1, "arrival")
    assert sorted(str(e["verdict"]) for e in arrivals) == ["selected", "valid"]


async def test_the_fallback_is_the_leaders_and_what_nobody_claims_is_logged_once(pair: Pair) -> None:
    await pair.open_slot(1)
    await pair.close_slot(1)
    claims = pair.claims()
    assert claims[1]["instance"] == "a" and claims[1]["source"] == "fallback_local"
    events = pair.events(1, "slot")
    assert len(events) == 1 and events[0]["verdict"] == "fallback"
    registry_b = pair.b.emitter.metrics.registry
    assert registry_b.get_sample_value("bppool_emitter_slot_outcomes_total", {"outcome": "fallback"}) == 0
    assert registry_b.get_sample_value("bppool_emitter_claims_total", {"result": "won"}) == 0


async def test_a_write_on_the_follower_is_made_by_the_leader(pair: Pair) -> None:
    async with httpx.AsyncClient(base_url=pair.b.emitter_url, timeout=10) as http:
        headers_before = (await http.get("/v1/pool/group")).json()
    assert headers_before["leader"]["instance"] == "a" and not headers_before["leads"]
    # The pool admin suspends a member through b: a makes the change, b shows it at once.
    result = await pair.b.admin.admin_member("carol", "suspend")  # type: ignore[union-attr]
    assert result["status"] == "suspended"
    assert pair.b.emitter.members["carol"]["status"] == "suspended"
    await eventually(lambda: pair.a.emitter.members["carol"]["status"] == "suspended")
    # Made on a directly, b learns it at its next round.
    await pair.a.admin.admin_member("carol", "reinstate")  # type: ignore[union-attr]
    await eventually(lambda: pair.b.emitter.members["carol"]["status"] == "active", what="b to reload")


async def test_a_clean_stop_hands_the_lease_over_and_the_other_runs_the_fallback(pair: Pair) -> None:
    epoch = pair.a.emitter.group.epoch
    await pair.a_stack.aclose()  # a clean stop of a
    await eventually(pair.b.emitter.group.leads, timeout=5, what="b to take the lease")
    assert pair.b.emitter.group.epoch == epoch + 1
    pair.b.clock.at_slot(3)
    await eventually(lambda: pair.b.emitter.run is not None and pair.b.emitter.run.slot == 3)
    pair.b.clock.at_slot(3, pair.b.cutoff + 1)
    await eventually(lambda: pair.b.emitter.last_closed_slot >= 3)
    claim = pair.claims()[3]
    assert claim["instance"] == "b" and claim["epoch"] == epoch + 1
