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
            result.header = statement["header"]
            info = await node.get_info()
            await _check_signature(node, info, statement, result)
            earnings = await _earnings(node, info, result.header)
            penalties = await _check_penalties(http, result.header, result)
            await _recompute(http, statement, earnings, penalties, result)
    finally:
        await node.aclose()
    return result


async def _check_signature(
    node: AsyncNodeClient, info: dict[str, Any], statement: dict[str, Any], result: AuditResult
) -> None:
    """The statement is signed by the pool account's key on this chain."""
    header = statement["header"]
    pool = header["pool"]
    # Verify the chain, the key on chain and the signature
    if header["chain_id"] != info["chain_id"]:
        result.problems.append("the statement is for another chain")
    account = await node.get_account(pool)
    if account["key"] != statement["public_key"]:
        result.problems.append(f"the statement's key is not {pool}'s key on chain")
    if not verify_statement(statement["public_key"], header, statement["signature"]):
        result.problems.append("the pool's signature over the statement does not verify")


async def _earnings(node: AsyncNodeClient, info: dict[str, Any], header: dict[str, Any]) -> int:
    """What the pool's blocks in the epoch paid it."""
    params = ChainParams.from_dict(info["params"])
    blocks = await fetch_blocks(node, header["start_slot"], header["end_slot"])
    return sum(compute_producer_income(b, params) for b in blocks if b.header.producer == header["pool"])


async def _check_penalties(
    http: httpx.AsyncClient, header: dict[str, Any], result: AuditResult
) -> dict[str, int]:
    """The statement's penalties; each must come from a ruled dispute against that member."""
    penalties = {m: int(b) for m, b in header.get("penalties", {}).items()}
    disputes = (await http.get("/v1/dac/disputes")).json()["disputes"]
    ruled = {
        d["against"]
        for d in disputes
        if d["status"] == "ruled" and d["ruling"] and d["ruling"]["decision"] in ("penalty", "forfeit")
    }
    for member in penalties:
        if member not in ruled:
            result.problems.append(f"penalty on {member} without a ruling against it")
    return penalties


async def _recompute(
    http: httpx.AsyncClient,
    statement: dict[str, Any],
    earnings: int,
    penalties: dict[str, int],
    result: AuditResult,
) -> None:
    """The split from the public event log, compared with the statement's figures and rows."""
    header, rows = statement["header"], statement["rows"]
    start, end = header["start_slot"], header["end_slot"]
    slots = await _events(http, "slot", start, end)
    # The slot feed's openings (the service's starts), up to the epoch's end: the pool
    # slots right after each do not count for participation (docs/dac.md)
    openings = [e["slot"] for e in await _events(http, "service", 0, end) if e.get("verdict") == "feed_open"]
    counted = compute_counted_slots(
        (e["slot"] for e in slots), openings, header.get("reconnect_grace_slots", 0)
    )
    arrivals = await _events(http, "arrival", start, end)
    metrics = {m: asdict(t) for m, t in compute_delivery_tallies(arrivals).items()}
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
    recomputed = compute_rows(result.epoch, split)
    result.recomputed = {
        "earnings": earnings,
        "treasury": split.treasury,
        "pool_slots": len(slots),
        "counted_slots": len(counted),
        "root": compute_statement_root(recomputed),
    }
    _compare(result, header, rows, recomputed)


def _compare(
    result: AuditResult, header: dict[str, Any], rows: list[dict[str, Any]], recomputed: list[dict[str, Any]]
) -> None:
    """Every figure and row of the statement that differs from the recomputed one."""
    for name, value in result.recomputed.items():
        if header.get(name) != value:
            result.problems.append(f"{name}: the statement says {header.get(name)}, recomputed {value}")
    published = {r["member"]: r for r in rows}
    for row in recomputed:
        if published.get(row["member"]) != row:
            result.problems.append(
                f"row of {row['member']}: statement {published.get(row['member'])}, recomputed {row}"
            )
