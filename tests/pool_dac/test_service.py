"""The DAC in the pool service: governance, constitution, arbitration, epochs and payouts."""

from __future__ import annotations

import asyncio
import contextlib
from contextlib import AsyncExitStack
from pathlib import Path

import pytest

from emitter import crud as emitter_crud
from pool_dac import crud
from pool_dac.core.statement import compute_statement_root, verify_row, verify_statement
from producer_client import PoolError
from tests.emitter.conftest import eventually, restart_pool, start_pool
from tests.helpers.chain import key_for
from tests.pool_dac.conftest import DAC_SETTINGS, DacHarness

pytestmark = pytest.mark.anyio


async def test_bootstrap_members_are_admitted_and_others_wait_for_a_vote(dac: DacHarness) -> None:
    members = dac.pool.emitter.members
    assert {m: members[m]["status"] for m in ("alice", "bob", "carol")} == dict.fromkeys(
        ("alice", "bob", "carol"), "active"
    )
    constitution = await dac.get("/v1/dac/constitution")
    assert constitution["version"] == 1 and set(constitution["signers"]) == {"alice", "bob", "carol"}
    await dac.pool.members["dave"].apply("https://dave.example")
    assert dac.pool.emitter.members["dave"]["status"] == "applied"
    # the admin command no longer admits: admission is a vote
    with pytest.raises(PoolError) as info:
        await dac.pool.admin.admin_member("dave", "admit")
    assert info.value.code == "admission_by_vote"
    result = await dac.pass_proposal("alice", "admit_member", {"account": "dave"})
    assert result["result"] == "dave is active" and dac.pool.emitter.members["dave"]["status"] == "active"


async def test_governance_rejections(dac: DacHarness) -> None:
    await dac.pool.members["dave"].apply()
    # not an (active) member
    with pytest.raises(PoolError) as info:
        await dac.propose("dave", "set_parameter", {"name": "strategy", "value": "best_fees"})
    assert info.value.status == 403
    # invalid payloads name the problem
    with pytest.raises(PoolError) as info:
        await dac.propose("alice", "set_parameter", {"name": "treasury_fee_bps", "value": 9000})
    assert info.value.code == "invalid_proposal" and "5000" in info.value.message
    proposal = await dac.propose("alice", "set_parameter", {"name": "strategy", "value": "best_fees"})
    pid = proposal["id"]
    assert proposal["state"] == "Active"
    # a ballot signed by someone else
    forged = dac.ballot("bob", pid, "yes")
    forged["signature"] = dac.ballot("carol", pid, "yes")["signature"]
    with pytest.raises(PoolError) as info:
        await dac.call("bob", "POST", f"/v1/dac/proposals/{pid}/ballots", forged)
    assert info.value.code == "bad_signature"
    # a ballot for another voter than the requester
    with pytest.raises(PoolError) as info:
        await dac.call("bob", "POST", f"/v1/dac/proposals/{pid}/ballots", dac.ballot("alice", pid, "yes"))
    assert info.value.code == "bad_signature"
    # a vote can change while Active; an older ballot cannot replace a newer one
    first = dac.ballot("bob", pid, "no")
    await dac.call("bob", "POST", f"/v1/dac/proposals/{pid}/ballots", first)
    changed = await dac.call("bob", "POST", f"/v1/dac/proposals/{pid}/ballots", dac.ballot("bob", pid, "yes"))
    assert changed["tally"]["yes"] == 1 and changed["tally"]["no"] == 0
    with pytest.raises(PoolError) as info:
        await dac.call("bob", "POST", f"/v1/dac/proposals/{pid}/ballots", first)
    assert info.value.code == "replayed_message"
    await dac.call("alice", "POST", f"/v1/dac/proposals/{pid}/ballots", dac.ballot("alice", pid, "yes"))
    # executing before the vote ended, then before the timelock
    with pytest.raises(PoolError) as info:
        await dac.call("alice", "POST", f"/v1/dac/proposals/{pid}/execute")
    assert info.value.code == "not_executable"
    dac.clock.set(dac.clock.now_ms() + 10_001)
    await dac.dac.tick()
    assert (await dac.get(f"/v1/dac/proposals/{pid}"))["state"] == "Queued"
    # voting outside Active
    with pytest.raises(PoolError) as info:
        await dac.call("carol", "POST", f"/v1/dac/proposals/{pid}/ballots", dac.ballot("carol", pid, "no"))
    assert info.value.code == "voting_closed" and "Queued" in info.value.message
    with pytest.raises(PoolError) as info:
        await dac.call("alice", "POST", f"/v1/dac/proposals/{pid}/execute")
    assert info.value.code == "not_executable" and "timelock" in info.value.message
    dac.clock.set(dac.clock.now_ms() + 5_001)
    executed = await dac.call("alice", "POST", f"/v1/dac/proposals/{pid}/execute")
    assert executed["state"] == "Executed"
    # the parameter took effect in the emitter
    assert dac.pool.emitter.strategy_name == "best_fees"
    # double execution
    with pytest.raises(PoolError) as info:
        await dac.call("alice", "POST", f"/v1/dac/proposals/{pid}/execute")
    assert info.value.code == "already_executed"


async def test_defeat_and_cancel(dac: DacHarness) -> None:
    p = await dac.propose("alice", "set_parameter", {"name": "fallback", "value": "empty"})
    for voter, choice in (("alice", "yes"), ("bob", "no"), ("carol", "no")):
        await dac.call(
            voter, "POST", f"/v1/dac/proposals/{p['id']}/ballots", dac.ballot(voter, p["id"], choice)
        )
    dac.clock.set(dac.clock.now_ms() + 10_001)
    await dac.dac.tick()
    assert (await dac.get(f"/v1/dac/proposals/{p['id']}"))["state"] == "Defeated"
    q = await dac.propose("bob", "set_parameter", {"name": "fallback", "value": "none"})
    with pytest.raises(PoolError) as info:
        await dac.call("alice", "POST", f"/v1/dac/proposals/{q['id']}/cancel")
    assert info.value.code == "not_eligible"
    assert (await dac.call("bob", "POST", f"/v1/dac/proposals/{q['id']}/cancel"))["state"] == "Canceled"
    assert dac.pool.emitter.fallback == "local"


async def test_amended_constitution_must_be_signed_to_stay_active(dac: DacHarness) -> None:
    await dac.pass_proposal("alice", "amend_constitution", {"text": "# Constitution v2\n\nBe excellent.\n"})
    assert dac.dac.constitution_version == 2
    assert not dac.dac.is_active("alice")
    with pytest.raises(PoolError) as info:
        await dac.propose("alice", "set_parameter", {"name": "fallback", "value": "empty"})
    assert info.value.code == "not_eligible"
    signed = await dac.call("alice", "POST", "/v1/dac/constitution/sign", dac.constitution_signature("alice"))
    assert signed["active"] is True and dac.dac.is_active("alice")
    assert "alice" in (await dac.get("/v1/dac/constitution"))["signers"]
    # new applicants must sign the new hash
    text, digest = await dac.pool.members["dave"].constitution()
    assert "Be excellent" in text and digest == dac.pool.emitter.constitution_hash


async def run_pool_slots(
    dac: DacHarness, first: int, last: int, winners: tuple[str, ...] = ("alice", "bob")
) -> None:
    """Open each slot, let the members deliver (the winner first), close it."""
    pool = dac.pool
    for slot in range(first, last + 1):
        await pool.open_slot(slot)
        candidates = [(member, pool.candidate(member)) for member in winners]  # all on the slot's parent
        for member, candidate in candidates:
            with contextlib.suppress(PoolError):
                await pool.members[member].submit_candidate(candidate)
        await pool.close_slot(slot)
        await pool.node_has_slot(slot)


async def test_epoch_statement_and_payouts_match(dac: DacHarness) -> None:
    await run_pool_slots(dac, 1, 35)
    dac.clock.at_slot(36)
    await run_pool_slots(dac, 36, 36)  # a block after the epoch makes its last slot irreversible
    await dac.dac.tick()
    statement = await dac.get("/v1/dac/epochs/0/statement")
    header, rows = statement["header"], statement["rows"]
    assert header["epoch"] == 0 and header["pool_slots"] == 35
    assert header["earnings"] == sum(r["amount"] for r in rows) + header["treasury"]
    assert verify_statement(key_for("pool").public_key, header, statement["signature"])
    assert compute_statement_root(rows) == header["root"]
    by_member = {r["member"]: r for r in rows}
    assert (
        by_member["alice"]["eligible"] and by_member["bob"]["eligible"] and not by_member["carol"]["eligible"]
    )
    assert by_member["carol"]["amount"] == 0 and by_member["alice"]["amount"] == by_member["bob"]["amount"]
    proof = await dac.get("/v1/dac/epochs/0/statement/alice")
    assert verify_row(proof["row"], proof["index"], proof["size"], proof["proof"], header["root"])
    # payouts: sent, included by the next blocks, confirmed, and exactly the statement's amounts
    before = {m: dac.pool.node.state.accounts[m].balance for m in ("alice", "bob")}
    await dac.dac.tick()
    await eventually(
        lambda: len(dac.pool.emitter.follower.mempool) >= 2, what="the payouts in the pool's mempool"
    )
    await run_pool_slots(dac, 37, 38, winners=())  # fallback blocks include the payouts
    await eventually(
        lambda: dac.pool.emitter.follower.state.accounts["pool"].nonce >= 2, what="payouts on chain"
    )
    await dac.dac.tick()
    epoch = await dac.get("/v1/dac/epochs/0")
    assert epoch["status"] == "paid" and {p["status"] for p in epoch["payouts"]} == {"confirmed"}
    for member in ("alice", "bob"):
        assert dac.pool.node.state.accounts[member].balance - before[member] == by_member[member]["amount"]
    # running the jobs again (a restart) pays nothing twice
    for transfer in crud.transfers(dac.dac.engine):
        crud.update_transfer(dac.dac.engine, transfer_id=transfer["id"], status="signed")
    await dac.dac.tick()
    await asyncio.sleep(0.2)
    await run_pool_slots(dac, 39, 39, winners=())
    await dac.dac.tick()
    for member in ("alice", "bob"):
        assert dac.pool.node.state.accounts[member].balance - before[member] == by_member[member]["amount"]
    # the DAC's metrics on the pool service's /metrics
    scrape = (await dac.pool.admin._http.get("/metrics")).text
    samples = {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in scrape.splitlines()
        if line.startswith("bppool_dac_")
    }
    assert samples["bppool_dac_epochs_closed_total"] == 1
    assert samples["bppool_dac_epoch_earnings"] == header["earnings"]
    assert samples['bppool_dac_paid_total{member="alice"}'] == by_member["alice"]["amount"]
    assert samples["bppool_dac_payout_failures_total"] == 0
    assert samples["bppool_dac_transfers_pending"] == 0
    assert samples["bppool_dac_treasury_balance"] == header["treasury"]
    assert samples['bppool_dac_proposals{state="Executed"}'] == 0


async def test_dispute_ruling_and_penalty(dac: DacHarness) -> None:
    await dac.pass_proposal("alice", "set_parameter", {"name": "arbitrator", "value": "dave"})
    first = dac.pool.emitter.current_slot() + 1  # the vote took 15 s: still in epoch 0 (slots 0-35)
    assert first + 3 < 36
    await run_pool_slots(dac, first, first + 2)
    evidence = [
        e["id"] for e in emitter_crud.list_events(dac.pool.emitter.engine, kind="arrival", member="bob")
    ][:2]
    with pytest.raises(PoolError) as info:
        await dac.call(
            "alice", "POST", "/v1/dac/disputes", {"against": "bob", "epoch": 0, "evidence": [10**9]}
        )
    assert info.value.code == "invalid_dispute" and "no such events" in info.value.message
    dispute = await dac.call(
        "alice",
        "POST",
        "/v1/dac/disputes",
        {"against": "bob", "epoch": 0, "evidence": evidence, "description": "late blocks"},
    )
    # only the arbitrator rules, with its own signature
    with pytest.raises(PoolError) as info:
        await dac.call(
            "alice",
            "POST",
            f"/v1/dac/disputes/{dispute['id']}/ruling",
            dac.ruling("alice", dispute["id"], "forfeit", 0),
        )
    assert info.value.code == "not_arbitrator"
    forged = dac.ruling("dave", dispute["id"], "penalty", 0, 5000)
    forged["signature"] = dac.ruling("alice", dispute["id"], "penalty", 0, 5000)["signature"]
    with pytest.raises(PoolError) as info:
        await dac.call("alice", "POST", f"/v1/dac/disputes/{dispute['id']}/ruling", forged)
    assert info.value.code == "bad_signature"
    ruled = await dac.call(
        "alice",
        "POST",
        f"/v1/dac/disputes/{dispute['id']}/ruling",
        dac.ruling("dave", dispute["id"], "penalty", 0, 5000),
    )
    assert ruled["proposal"]["state"] == "Queued" and ruled["dispute"]["status"] == "ruled"
    dac.clock.set(dac.clock.now_ms() + 5_001)
    await dac.dac.tick()
    assert crud.penalties(dac.dac.engine, epoch=0) == {"bob": 5000}
    await run_pool_slots(dac, dac.pool.emitter.current_slot() + 1, dac.pool.emitter.current_slot() + 1)
    await dac.dac.tick()
    rows = {r["member"]: r for r in (await dac.get("/v1/dac/epochs/0/statement"))["rows"]}
    assert rows["bob"]["penalty_bps"] == 5000 and rows["bob"]["amount"] < rows["alice"]["amount"]
    assert (
        rows["bob"]["amount"] == rows["alice"]["amount"] // 2
        or rows["bob"]["amount"] == (rows["alice"]["amount"] - 1) // 2
    )


async def test_treasury_spend(dac: DacHarness) -> None:
    await run_pool_slots(dac, 1, 36)
    await dac.dac.tick()
    treasury = await dac.get("/v1/dac/treasury")
    assert treasury["balance"] > 0
    with pytest.raises(PoolError) as info:
        await dac.propose("alice", "treasury_spend", {"to": "dave", "amount": treasury["balance"] + 1})
    assert info.value.code == "invalid_proposal"
    before = dac.pool.node.state.accounts["dave"].balance
    await dac.pass_proposal("alice", "treasury_spend", {"to": "dave", "amount": 1234, "memo": "hosting"})
    await dac.dac.tick()
    spend = crud.transfers(dac.dac.engine, kind="spend")[0]
    await eventually(
        lambda: spend["tx_id"] in dac.pool.emitter.follower.mempool, what="the spend in the pool's mempool"
    )
    slot = dac.pool.emitter.current_slot() + 1
    await run_pool_slots(dac, slot, slot, winners=())
    await eventually(lambda: dac.pool.node.state.accounts["dave"].balance == before + 1234, what="the spend")
    assert (await dac.get("/v1/dac/treasury"))["spent"] == 1234


async def test_audit_recomputes_the_statement_from_public_data(dac: DacHarness) -> None:
    from sqlalchemy import update

    from pool_dac.audit import audit_epoch

    await run_pool_slots(dac, 1, 36)
    await dac.dac.tick()
    result = await audit_epoch(dac.pool.emitter_url, dac.pool.node_url, 0)
    assert result.matches, result.problems
    assert result.recomputed["root"] == result.header["root"]
    # a statement row that does not follow from the log is caught
    with dac.dac.engine.begin() as conn:
        rows = crud.statement_rows(dac.dac.engine, epoch=0)
        forged = {**rows[0], "amount": rows[0]["amount"] + 1}
        conn.execute(
            update(crud.ROW)
            .where((crud.ROW.c.epoch == 0) & (crud.ROW.c.member == forged["member"]))
            .values(row=__import__("orjson").dumps(forged).decode())
        )
    result = await audit_epoch(dac.pool.emitter_url, dac.pool.node_url, 0)
    assert not result.matches and any(forged["member"] in p for p in result.problems)


async def test_a_restart_of_the_pool_service_does_not_count_against_members(
    tmp_path: Path, database_url: str
) -> None:
    """An epoch with a restart: slots while the service was down and the fallback slots while
    members reconnect (the grace after each feed opening) are not held against anyone."""
    from pool_dac.audit import audit_epoch

    async with AsyncExitStack() as stack:
        async with AsyncExitStack() as first:
            pool = await start_pool(first, tmp_path, database_url, node_stack=stack, dac=DAC_SETTINGS)
            h = DacHarness(pool)
            clock = h.clock  # the feed opens in slot 0
            assert h.dac.params.reconnect_grace_slots == 4
            await run_pool_slots(h, 1, 4, winners=())  # members still connecting: fallback
            await run_pool_slots(h, 5, 7)
        # Down for slots 8 and 9; the feed opens again in slot 10, members reconnect meanwhile.
        clock.at_slot(10, 50)
        h = DacHarness(await restart_pool(stack, tmp_path, h.pool, dac=DAC_SETTINGS))
        await run_pool_slots(h, 10, 14, winners=())
        await run_pool_slots(h, 15, 17)
        clock.at_slot(36)
        await run_pool_slots(h, 36, 36)  # makes the epoch's last slot irreversible
        await h.dac.tick()
        statement = await h.get("/v1/dac/epochs/0/statement")
        header = statement["header"]
        # 16 pool slots ran: 1-7 and 10-18 (18 opens as the clock jumps to 36, a fallback
        # with every member connected: it counts). Counted: 5-7 and 15-18. Six valid
        # deliveries of seven is 85.71 %, where six of sixteen (37.5 %) would have sent the
        # whole epoch to the treasury.
        assert (header["pool_slots"], header["counted_slots"], header["reconnect_grace_slots"]) == (16, 7, 4)
        rows = {r["member"]: r for r in statement["rows"]}
        for member in ("alice", "bob"):
            assert (rows[member]["valid"], rows[member]["participation_bps"]) == (6, 8_571)
            assert rows[member]["eligible"] and rows[member]["amount"] > 0
        assert not rows["carol"]["eligible"] and rows["carol"]["amount"] == 0  # never delivered
        openings = [
            e["slot"]
            for e in emitter_crud.list_events(h.pool.emitter.engine, kind=emitter_crud.SERVICE_EVENT)
        ]
        assert openings == [0, 10]
        result = await audit_epoch(h.pool.emitter_url, h.pool.node_url, 0)
        assert result.matches, result.problems
        assert result.recomputed["counted_slots"] == 7


@pytest.mark.parametrize(
    ("kind", "payload", "message"),
    [
        ("admit_member", {"account": "dave\n"}, "valid account name"),
        ("remove_member", {"account": "bob\n"}, "valid account name"),
        ("treasury_spend", {"to": "bob\n", "amount": 1}, "{to, amount, memo}"),
        ("set_parameter", {"name": "arbitrator", "value": "alice\n"}, "must be an account name"),
    ],
)
async def test_proposals_refuse_a_name_with_a_trailing_newline(
    dac: DacHarness, kind: str, payload: dict[str, object], message: str
) -> None:
    with pytest.raises(PoolError) as info:
        await dac.propose("alice", kind, payload)
    assert info.value.status == 400 and info.value.code == "invalid_proposal"
    assert message in info.value.message


async def test_a_failing_job_is_logged_counted_and_named_until_it_succeeds(
    dac: DacHarness, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    emitter = dac.pool.emitter
    registry = emitter.metrics.registry
    failures = {"task": "dac_close_due_epochs"}
    closes = dac.dac.close_due_epochs

    async def broken() -> None:
        raise RuntimeError("a bug in closing epochs")

    monkeypatch.setattr(dac.dac, "close_due_epochs", broken)
    with caplog.at_level("ERROR", logger="bppool.tasks"):
        await dac.dac.tick()
    assert "job dac_close_due_epochs failed" in caplog.text and "RuntimeError" in caplog.text
    assert registry.get_sample_value("bppool_task_failures_total", failures) == 1
    assert registry.get_sample_value("bppool_task_down", failures) == 1
    assert emitter.not_ready()["tasks_down"] == {
        "dac_close_due_epochs": "RuntimeError: a bug in closing epochs"
    }
    # the other jobs of the round still ran
    assert registry.get_sample_value("bppool_task_down", {"task": "dac_process_transfers"}) == 0
    monkeypatch.setattr(dac.dac, "close_due_epochs", closes)
    await dac.dac.tick()
    assert "tasks_down" not in emitter.not_ready()
    assert registry.get_sample_value("bppool_task_failures_total", failures) == 1
