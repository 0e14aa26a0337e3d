"""What the devnet shows: the live view of each pool slot, and the summary at the end.

The live view (a Rich table, refreshed while the devnet runs) comes from a snapshot of the
node's ``get_info`` and the pool service's slots, members and DAC epochs: who delivered first
and at what offset, misses, fallbacks, head and LIB, wins per member.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table

from chain.core import format_amount

SLOT_OUTCOMES = ("emitted", "fallback", "missed")  # what became of a pool slot


def clock_time(ms: int) -> str:
    """``12:46:18 UTC`` for a time in milliseconds since the epoch."""
    return time.strftime("%H:%M:%S UTC", time.gmtime(ms / 1000))


async def snapshot(
    http: httpx.AsyncClient, node_url: str, emitter_urls: list[str], *, dac: bool
) -> dict[str, Any]:
    """The node's info, the pool's slots (newest first), members, the newest slot's arrivals,
    the emitter group and, with ``dac``, the DAC's epochs; read from the first instance of
    the pool service that answers."""
    info = (await http.post(f"{node_url}/v1/chain/get_info", content=b"{}")).json()
    emitter_url, group = await first_answering(http, emitter_urls)
    slots = (await http.get(f"{emitter_url}/v1/pool/slots", params={"limit": 1000})).json()["slots"]
    members = (await http.get(f"{emitter_url}/v1/pool/members")).json()["members"]
    latest = slots[0] if slots else None
    detail = None
    if latest is not None:
        detail = (await http.get(f"{emitter_url}/v1/pool/slots/{latest['slot']}")).json()
    epochs = None
    if dac:
        with contextlib.suppress(httpx.HTTPError, KeyError, ValueError):
            response = await http.get(f"{emitter_url}/v1/dac/epochs", params={"limit": 1000})
            if response.status_code == 200:
                epochs = response.json()
    return {
        "info": info,
        "slots": slots,
        "members": members,
        "detail": detail,
        "dac": epochs,
        "group": group,
    }


async def first_answering(http: httpx.AsyncClient, emitter_urls: list[str]) -> tuple[str, dict[str, Any]]:
    """The first of ``emitter_urls`` that answers, with its view of the emitter group."""
    error: Exception | None = None
    for url in emitter_urls:
        try:
            response = await http.get(f"{url}/v1/pool/group", timeout=1.0)
            response.raise_for_status()
            return url, response.json()
        except httpx.HTTPError as exc:
            error = exc
    raise error or httpx.ConnectError("no instance of the pool service to ask")


class LiveView:
    """The live view; it remembers each slot's first delivery (a snapshot has the newest)."""

    def __init__(self, target_slots: int | None) -> None:
        self.target_slots = target_slots
        self.firsts: dict[int, str] = {}

    def render(self, snap: dict[str, Any], started: float, killed: str | None) -> Group:
        """The view of ``snap``, ``started`` (monotonic) the devnet's start."""
        info, slots = snap["info"], snap["slots"]
        outcomes = {k: sum(1 for s in slots if s["verdict"] == k) for k in SLOT_OUTCOMES}
        target = f"/{self.target_slots}" if self.target_slots else ""
        head = Table.grid(padding=(0, 2))
        head.add_row(
            f"slot [bold]{info['current_slot']}[/]",
            f"head [bold]{info['head_block_num']}[/] by {info['head_block_producer']}",
            f"LIB [bold]{info['last_irreversible_block_num']}[/]",
            f"pool slots [bold]{len(slots)}{target}[/]",
            f"emitted {outcomes['emitted']} · fallback {outcomes['fallback']} · missed {outcomes['missed']}",
            f"{time.monotonic() - started:.0f} s",
        )
        group = snap.get("group") or {}
        if group.get("shared"):
            leader = group.get("leader")
            head.add_row(
                f"leader [bold]{leader['instance']}[/] (epoch {leader['epoch']})"
                if leader
                else "[red]no leader[/]",
                f"group of [bold]{group.get('size', 0)}[/]",
                f"watermark slot {group.get('signing', {}).get('watermark')}",
                "",
                "",
                "",
            )
        parts: list[Any] = [
            Panel(head, title="bppool devnet"),
            self.recent_slots(snap),
            members_table(snap["members"], killed),
        ]
        if snap.get("dac"):
            parts.append(dac_table(snap["dac"]))
        return Group(*parts)

    def recent_slots(self, snap: dict[str, Any]) -> Table:
        """The eight newest pool slots."""
        recent = Table(
            "pool slot", "outcome", "winner", "first delivery", "arrivals", title="recent pool slots"
        )
        firsts = self.first_deliveries(snap)
        for s in snap["slots"][:8]:
            extra = s.get("data", {})
            recent.add_row(
                str(s["slot"]),
                s["verdict"],
                s.get("member", "—"),
                firsts.get(s["slot"], ""),
                str(extra.get("arrivals", "")),
            )
        return recent

    def first_deliveries(self, snap: dict[str, Any]) -> dict[int, str]:
        """Each slot's first delivery seen so far, with the newest slot's from ``snap``."""
        detail = snap["detail"]
        if not detail or not detail.get("arrivals"):
            return self.firsts
        first = min(detail["arrivals"], key=lambda a: a.get("offset_ms", 1 << 30))
        self.firsts[detail["slot"]] = f"{first['member']} at {first.get('offset_ms')} ms ({first['verdict']})"
        return self.firsts


def members_table(members: list[dict[str, Any]], killed: str | None) -> Table:
    """Each member's status, wins, valid and rejected candidates and mean offset."""
    board = Table("member", "status", "wins", "valid", "rejected", "mean offset", title="members")
    for m in members:
        st = m["stats"]
        rejected = sum(st.get("rejections", {}).values())
        mark = " (killed)" if m["account"] == killed else ""
        board.add_row(
            m["account"] + mark,
            m["status"],
            str(st.get("wins", 0)),
            str(st.get("valid", 0)),
            str(rejected),
            f"{st.get('mean_valid_offset_ms') or '—'} ms",
        )
    return board


def dac_table(dac: dict[str, Any]) -> Table:
    """The DAC's four newest epochs and when the next one closes."""
    epochs = dac["epochs"]
    following = dac["next"]
    table = Table(
        "epoch",
        "slots",
        "earnings",
        "treasury",
        "status",
        title=f"DAC epochs (next: {following['epoch']} closes after slot {following['end_slot']})",
    )
    for e in epochs[:4]:
        table.add_row(
            str(e["epoch"]),
            f"{e['start_slot']}-{e['end_slot'] - 1}",
            format_amount(e["earnings"]),
            format_amount(e["treasury"]),
            e["status"],
        )
    return table


def summarize(snap: dict[str, Any], run: dict[str, Any]) -> dict[str, Any]:
    """The run's summary (``summary.json``): ``run``'s facts (directory, URLs, chain id, the
    killed member, start-up timings) and the pool slots, members and epochs of ``snap``."""
    slots = snap.get("slots", [])
    return {
        "data_dir": run["data_dir"],
        "node_url": run["node_url"],
        "emitter_url": run["emitter_url"],
        "chain_id": run["chain_id"],
        "pool_slots": [
            {
                "slot": s["slot"],
                "outcome": s["verdict"],
                "winner": s.get("member"),
                "block_id": s.get("block_id"),
            }
            for s in sorted(slots, key=lambda s: s["slot"])
        ],
        "members": {m["account"]: m["stats"] for m in snap.get("members", [])},
        "killed": run["killed"],
        "killed_at_slot": run["killed_at_slot"],
        "emitter_urls": run.get("emitter_urls", [run["emitter_url"]]),
        "killed_emitter": run.get("killed_emitter"),
        "killed_emitter_at_slot": run.get("killed_emitter_at_slot"),
        "leader": ((snap.get("group") or {}).get("leader") or {}).get("instance"),
        "dac_epochs": sorted((snap.get("dac") or {}).get("epochs", []), key=lambda e: e["epoch"]),
        "startup_s": run["startup_s"],
        "head": snap.get("info", {}).get("head_block_num"),
        "lib": snap.get("info", {}).get("last_irreversible_block_num"),
    }


def print_summary(console: Console, summary: dict[str, Any], *, kept: bool, root: Path) -> None:
    """The summary's figures; where the data is if ``kept``, that it was removed otherwise."""
    slots = summary["pool_slots"]
    winners: dict[str, int] = {}
    for s in slots:
        if s["outcome"] == "emitted" and s["winner"]:
            winners[s["winner"]] = winners.get(s["winner"], 0) + 1
    counts = {k: sum(1 for s in slots if s["outcome"] == k) for k in SLOT_OUTCOMES}
    console.print(
        f"[bold]{len(slots)}[/] pool slots: {counts['emitted']} emitted from members, "
        f"{counts['fallback']} by fallback, {counts['missed']} missed; "
        f"head {summary['head']}, LIB {summary['lib']}"
    )
    killed_at = summary.get("killed_emitter_at_slot")
    if summary.get("killed_emitter") and killed_at is not None:
        after = [s for s in slots if s["slot"] >= killed_at]
        filled = sum(1 for s in after if s["outcome"] != "missed")
        console.print(
            f"killed the group's leader {summary['killed_emitter']} at slot {killed_at}; leader now "
            f"{summary.get('leader') or 'none'}; since then {filled} of {len(after)} pool slots filled"
        )
    ranked = sorted(winners.items(), key=lambda kv: (-kv[1], kv[0]))
    console.print("blocks built per member: " + (", ".join(f"{m} {n}" for m, n in ranked) or "none"))
    epochs = summary.get("dac_epochs", [])
    if epochs:
        paid = sum(1 for e in epochs if e["status"] == "paid")
        earned = sum(e["earnings"] for e in epochs)
        console.print(
            f"DAC: {len(epochs)} epochs closed with signed statements ({paid} paid out), "
            f"earnings {format_amount(earned)}"
        )
    if kept:
        console.print(f"summary: {root / 'summary.json'}; logs: {root / 'logs'}")
    else:
        console.print("data removed (keep it with --keep-data or --data-dir)")
