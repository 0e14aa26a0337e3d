"""The DAC on a devnet, end to end: real processes, real votes, real payouts on chain.

Over two epochs the members are paid on chain exactly what their statements say; a strategy
change voted through takes effect in the pool service; the pool service dies in the middle of
paying epoch 0 (right after pushing a payout, before recording it) and, once restarted, pays
the rest without paying anyone twice.
"""

from __future__ import annotations

import asyncio
import io
import re
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
from rich.console import Console

from bppool.devnet import POOL, Devnet
from chain.client.http import AsyncNodeClient
from pool_dac.audit import audit_epoch
from producer_client import Client
from tests.helpers.devnet import eventually, stopped_at_the_end

pytestmark = pytest.mark.e2e

MEMO = re.compile(r"^bppool payout epoch (\d+)$")


async def payouts_on_chain(node: AsyncNodeClient) -> list[tuple[int, str, int]]:
    """Every payout transfer from the pool account in the canonical chain: (epoch, to, amount)."""
    found = []
    height = 1
    while True:
        batch = await node.blocks(height, 200)
        for block in batch:
            for tx in block["transactions"]:
                action = tx["action"]
                match = MEMO.match(action.get("memo", "")) if action["type"] == "transfer" else None
                if tx["sender"] == POOL and match:
                    found.append((int(match.group(1)), action["to"], action["amount"]))
        if len(batch) < 200:
            return found
        height = batch[-1]["header"]["height"] + 1


async def scenario(devnet: Devnet) -> None:
    await devnet.start()
    traffic = asyncio.create_task(devnet.traffic())
    emitter = devnet.procs["emitter"]
    members = [Client(devnet.emitter_url, account=m, key=devnet.keys[m].key) for m in devnet.member_names]
    node = AsyncNodeClient(devnet.node_url)
    http = httpx.AsyncClient(base_url=devnet.emitter_url, timeout=5)
    try:
        # --- a strategy change voted through takes effect in the emitter --------------------
        assert (await http.get("/v1/pool/info")).json()["strategy"] == "first_delivered"
        proposal = await members[0].dac_propose(
            "set_parameter", {"name": "strategy", "value": "fair_rotation"}, "rotate fairly"
        )
        for member in members:
            await member.dac_vote(proposal["id"], "yes")

        async def executed() -> dict[str, Any] | None:
            found = (await http.get(f"/v1/dac/proposals/{proposal['id']}")).json()
            return found if found["state"] == "Executed" else None

        done = await eventually("the strategy proposal to execute", executed, 60, devnet)
        assert done["tally"]["yes"] == len(members)
        assert (await http.get("/v1/pool/info")).json()["strategy"] == "fair_rotation"
        assert (await http.get("/v1/dac/parameters")).json()["values"]["strategy"] == "fair_rotation"

        async def rotated_selection() -> bool | None:
            page = (await http.get("/v1/pool/events", params={"kind": "emission", "limit": 10_000})).json()
            later = [e for e in page["events"] if e["ts_ms"] > done["executed_ms"]]
            return True if any(e["data"].get("strategy") == "fair_rotation" for e in later) else None

        await eventually("a block selected by fair_rotation", rotated_selection, 30, devnet)

        # --- the pool service dies in the middle of paying epoch 0 ---------------------------
        assert emitter.process is not None
        emitter.stopped = True  # expected to exit: do not count it as a failure
        code = await asyncio.wait_for(asyncio.to_thread(emitter.process.wait), 150)
        assert code == 3, f"the pool service exited with {code}, not by the injected fault"
        log = (devnet.root / "logs" / "emitter.log").read_text()
        assert "fault injection: exiting after pushing 2 transfers" in log
        config = devnet.root / "emitter.toml"
        config.write_text(re.sub(r"(?m)^crash_after_payouts = .*\n", "", config.read_text()))
        emitter.stopped = False
        devnet.start_process(emitter)
        await devnet.wait_ready(devnet.emitter_url, "the restarted pool service")

        # --- two epochs paid, each exactly as its statement says -----------------------------
        async def two_paid() -> list[dict[str, Any]] | None:
            epochs = (await http.get("/v1/dac/epochs")).json()["epochs"]
            paid = sorted((e for e in epochs if e["status"] == "paid"), key=lambda e: e["epoch"])
            return paid if len(paid) >= 2 and paid[1]["epoch"] == 1 else None

        await eventually("epochs 0 and 1 to be paid", two_paid, 180, devnet)
        statements = {e: (await http.get(f"/v1/dac/epochs/{e}/statement")).json() for e in (0, 1)}
        # Let the chain settle, then compare every payout on chain with the statements.
        await asyncio.sleep(2)
        on_chain = await payouts_on_chain(node)
        counts = Counter((epoch, to) for epoch, to, _ in on_chain)
        assert all(n == 1 for n in counts.values()), f"paid twice: {counts}"
        for epoch, statement in statements.items():
            expected = {r["member"]: r["amount"] for r in statement["rows"] if r["amount"] > 0}
            paid = {to: amount for e, to, amount in on_chain if e == epoch}
            assert paid == expected, (epoch, paid, expected)
            assert expected, f"epoch {epoch} paid nobody"
            header = statement["header"]
            assert header["earnings"] == header["treasury"] + sum(r["amount"] for r in statement["rows"])
            assert header["earnings"] > 0

        # --- and anyone can recompute the statements from public data ------------------------
        for epoch in (0, 1):
            audit = await audit_epoch(devnet.emitter_url, devnet.node_url, epoch)
            assert audit.matches, audit.problems
    finally:
        traffic.cancel()
        await asyncio.gather(traffic, return_exceptions=True)
        for member in members:
            await member.aclose()
        await node.aclose()
        await http.aclose()


def test_dac_pays_two_epochs_exactly_once_and_governs_the_emitter(tmp_path: Path) -> None:
    devnet = Devnet(
        members=3,
        data_dir=tmp_path / "devnet",
        tx_rate=10,
        console=Console(file=io.StringIO()),
        dac_settings={"crash_after_payouts": 2},
    )
    devnet.prepare()
    with stopped_at_the_end(devnet, "emitter", "node"):
        asyncio.run(scenario(devnet))
