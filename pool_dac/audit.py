"""``bppool dac audit``: recompute an epoch's statement from public data and compare.

Only public sources are used: the pool's event log (``/v1/pool/events``), the chain's blocks
(from any node), the pool account's key on chain, the disputes, and the statement's own header
for the parameters in force. The statement matches when its signature is the pool's, the
earnings are what the pool's blocks paid, and the split recomputed from the log gives the same
rows and the same Merkle root.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import httpx

from chain.client.http import AsyncNodeClient
from chain.core import ChainParams
from chain.core.transition import compute_producer_income
from pool_dac.chainread import fetch_blocks
from pool_dac.core.split import MemberMetrics, compute_counted_slots, compute_split
from pool_dac.core.statement import compute_rows, compute_statement_root, verify_statement
from pool_protocol.outcomes import compute_delivery_tallies


@dataclass
class AuditResult:
    epoch: int
    problems: list[str] = field(default_factory=list)
    header: dict[str, Any] = field(default_factory=dict)
    recomputed: dict[str, Any] = field(default_factory=dict)

    @property
    def matches(self) -> bool:
        return not self.problems


async def _events(http: httpx.AsyncClient, kind: str, start: int, end: int) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    after = 0
    while True:
        page = (
            await http.get(
                "/v1/pool/events",
                params={"kind": kind, "slot_from": start, "slot_to": end, "after_id": after, "limit": 10_000},
            )
        ).json()
        found += page["events"]
        if len(page["events"]) < 10_000:
            return found
        after = page["next_after_id"]


async def audit_epoch(
    pool_url: str, node_url: str, epoch: int, *, transport: httpx.AsyncBaseTransport | None = None
) -> AuditResult:
    """Recompute epoch ``epoch``'s statement and list every difference."""
    result = AuditResult(epoch)
    node = AsyncNodeClient(node_url)
    try:
        async with httpx.AsyncClient(base_url=pool_url, transport=transport, timeout=30) as http:
            response = await http.get(f"/v1/dac/epochs/{epoch}/statement")
            if response.status_code != 200:
                result.problems.append(f"no statement for epoch {epoch}: {response.text[:200]}")
                return result
            statement = response.json()
            header, rows = statement["header"], statement["rows"]
            result.header = header
            info = await node.get_info()
            pool = header["pool"]
            # Verify the statement is signed by the pool account's key on this chain
            if header["chain_id"] != info["chain_id"]:
                result.problems.append("the statement is for another chain")
            account = await node.get_account(pool)
            if account["key"] != statement["public_key"]:
                result.problems.append(f"the statement's key is not {pool}'s key on chain")
            if not verify_statement(statement["public_key"], header, statement["signature"]):
                result.problems.append("the pool's signature over the statement does not verify")
            # Earnings: what the pool's blocks in the epoch paid it
            params = ChainParams.from_dict(info["params"])
            blocks = await fetch_blocks(node, header["start_slot"], header["end_slot"])
            earnings = sum(compute_producer_income(b, params) for b in blocks if b.header.producer == pool)
            # Metrics: the public event log
            slots = await _events(http, "slot", header["start_slot"], header["end_slot"])
            # The slot feed's openings (the service's starts), up to the epoch's end: the pool
            # slots right after each do not count for participation (docs/dac.md)
            openings = [
                e["slot"]
                for e in await _events(http, "service", 0, header["end_slot"])
                if e.get("verdict") == "feed_open"
            ]
            counted = compute_counted_slots(
                (e["slot"] for e in slots), openings, header.get("reconnect_grace_slots", 0)
            )
            arrivals = await _events(http, "arrival", header["start_slot"], header["end_slot"])
            metrics = {m: asdict(t) for m, t in compute_delivery_tallies(arrivals).items()}
            # Penalties: each must come from a ruled dispute against that member
            penalties = {m: int(b) for m, b in header.get("penalties", {}).items()}
            disputes = (await http.get("/v1/dac/disputes")).json()["disputes"]
            ruled = {
                d["against"]
                for d in disputes
                if d["status"] == "ruled"
                and d["ruling"]
                and d["ruling"]["decision"] in ("penalty", "forfeit")
            }
            for member in penalties:
                if member not in ruled:
                    result.problems.append(f"penalty on {member} without a ruling against it")
            split = compute_split(
                earnings=earnings,
                treasury_fee_bps=header["treasury_fee_bps"],
                policy=header["policy"],
                min_participation_bps=header["min_participation_bps"],
                hybrid_base_bps=header["hybrid_base_bps"],
                pool_slots=len(counted),
                members=[MemberMetrics(r["member"], **metrics.get(r["member"], {})) for r in rows],
                penalties=penalties,
            )
            recomputed = compute_rows(epoch, split)
            root = compute_statement_root(recomputed)
            result.recomputed = {
                "earnings": earnings,
                "treasury": split.treasury,
                "pool_slots": len(slots),
                "counted_slots": len(counted),
                "root": root,
            }
            for name, value in result.recomputed.items():
                if header.get(name) != value:
                    result.problems.append(
                        f"{name}: the statement says {header.get(name)}, recomputed {value}"
                    )
            published = {r["member"]: r for r in rows}
            for row in recomputed:
                if published.get(row["member"]) != row:
                    result.problems.append(
                        f"row of {row['member']}: statement {published.get(row['member'])}, recomputed {row}"
                    )
    finally:
        await node.aclose()
    return result
