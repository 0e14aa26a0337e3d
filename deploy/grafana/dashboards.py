"""bppool's Grafana dashboards, as code (grafana-foundation-sdk).

    python deploy/grafana/dashboards.py           # write deploy/grafana/dashboards/*.json
    python deploy/grafana/dashboards.py --check   # exit 1 when the JSON and this code differ

Every panel queries the Prometheus datasource provisioned with the fixed uid
``bppool-prometheus`` (file provisioning does not resolve ``${DS_...}`` inputs). The tests
regenerate the JSON to catch drift, and run every panel's query against a real Prometheus
scraping a devnet, so a panel on a metric nobody exports fails CI.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeAlias

from grafana_foundation_sdk.builders.dashboard import Dashboard, QueryVariable, Row
from grafana_foundation_sdk.builders.prometheus import Dataquery
from grafana_foundation_sdk.builders.stat import Panel as Stat
from grafana_foundation_sdk.builders.timeseries import Panel as Timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import DataSourceRef

DATASOURCE_UID = "bppool-prometheus"
OUT = Path(__file__).resolve().parent / "dashboards"
DS = DataSourceRef(type_val="prometheus", uid=DATASOURCE_UID)
RATE = "$__rate_interval"
BPT = "suffix: BPT"
TAGS = ["bppool", "generated"]

Panel: TypeAlias = Stat | Timeseries


def query(expr: str, legend: str = "", ref: str = "A") -> Dataquery:
    q = Dataquery().expr(expr).ref_id(ref)
    return q.legend_format(legend) if legend else q


def series(
    title: str, unit: str, *targets: tuple[str, str], description: str = "", width: int = 12
) -> Timeseries:
    panel = (
        Timeseries()
        .title(title)
        .datasource(DS)
        .unit(unit)
        .height(8)
        .span(width)
        .line_width(1)
        .fill_opacity(10)
    )
    if description:
        panel = panel.description(description)
    for i, (expr, legend) in enumerate(targets):
        panel = panel.with_target(query(expr, legend, "ABCDEFGHIJ"[i]))
    return panel


def stat(title: str, expr: str, unit: str = "short", description: str = "", width: int = 4) -> Stat:
    panel = Stat().title(title).datasource(DS).unit(unit).height(4).span(width).with_target(query(expr))
    return panel.description(description) if description else panel


def dashboard(uid: str, title: str, description: str) -> Dashboard:
    return (
        Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(TAGS)
        .refresh("10s")
        .time("now-30m", "now")
        .timezone("browser")
        .editable()
    )


def with_row(board: Dashboard, title: str, panels: Iterable[Panel]) -> Dashboard:
    """``board`` with a row titled ``title`` holding ``panels``, in order."""
    board = board.with_row(Row(title))
    for panel in panels:
        board = board.with_panel(panel)
    return board


def quantile(q: float, histogram: str, by: str = "le") -> str:
    """The ``q`` quantile of a histogram's buckets over the rate interval."""
    return f"histogram_quantile({q}, sum by ({by}) (rate({histogram}_bucket[{RATE}])))"


def percentiles(title: str, histogram: str, *picks: str) -> Timeseries:
    """A panel (seconds) of a histogram's percentiles, named as their legends: ``"p99 (5 m)"``
    is the recording rule's (``bppool:<name>:p99_5m``), ``"p50"`` one computed here."""
    targets = []
    for pick in picks:
        name, _, window = pick.partition(" ")
        if window:
            rule = histogram.removeprefix("bppool_")
            targets.append((f"bppool:{rule}:{name}_5m", pick))
        else:
            targets.append((quantile(int(name[1:]) / 100, histogram), pick))
    return series(title, "s", *targets)


def rate_by(label: str, counter: str, selector: str = "") -> str:
    """A counter's per-second rate, summed by ``label``."""
    return f"sum by ({label}) (rate({counter}{selector}[{RATE}]))"


def pool_slots_1h(outcome: str) -> str:
    return f'sum(increase(bppool_emitter_slot_outcomes_total{{outcome="{outcome}"}}[1h]))'


def pool_now() -> list[Panel]:
    return [
        stat("Emitted (1 h)", pool_slots_1h("emitted")),
        stat("Fallback (1 h)", pool_slots_1h("fallback")),
        stat("Missed (1 h)", pool_slots_1h("missed")),
        stat(
            "Active members",
            'max(bppool_emitter_members{state="active"})',
            description="Every instance of an emitter group reports the same members: the highest.",
        ),
        stat(
            "Emitter ready",
            "min(bppool_emitter_ready)",
            description="1 while /readyz answers 200: following the node's canonical head, no task down.",
        ),
        stat("Pool in schedule", "max(bppool_emitter_in_schedule)"),
        stat(
            "Missed on chain (1 h)",
            "max(delta(bppool_emitter_chain_missed_slots[1h]))",
            description="Pool slots without a pool block on the canonical chain, as the chain counts them.",
        ),
        stat(
            "Task failures (1 h)",
            "sum(increase(bppool_task_failures_total[1h]))",
            description="Background tasks and jobs that failed in any service (each restarted).",
        ),
    ]


def pool_slots() -> list[Panel]:
    return [
        series("Pool slots by outcome", "ops", ("bppool:pool_slots:rate5m", "{{outcome}}")),
        series(
            "Fallback and missed share",
            "percentunit",
            ("bppool:pool_fallback_ratio:rate15m", "fallback"),
            ("bppool:pool_missed_ratio:rate15m", "missed"),
        ),
        series(
            "Pool slots missed on the chain (the chain's count, whatever the emitter recorded)",
            "short",
            ("max(bppool_emitter_chain_missed_slots)", "since genesis"),
            ("max(bppool_emitter_chain_window_missed_slots)", "in the liveness window"),
        ),
        series(
            "Background task failures, by service and task",
            "short",
            (f"sum by (job, task) (increase(bppool_task_failures_total[{RATE}]))", "{{job}} {{task}}"),
        ),
        percentiles(
            "Emission latency (arrival of the winner to the node)",
            "bppool_emitter_emit_seconds",
            "p50",
            "p99 (5 m)",
        ),
        percentiles(
            "Candidate arrival after the slot opened",
            "bppool_emitter_arrival_offset_seconds",
            "p50 (5 m)",
            "p90",
        ),
    ]


def pool_candidates() -> list[Panel]:
    return [
        series(
            "Candidates by result",
            "ops",
            (rate_by("result", "bppool_emitter_candidates_received_total"), "{{result}}"),
        ),
        series(
            "Blocks built by member", "ops", (rate_by("member", "bppool_emitter_wins_total"), "{{member}}")
        ),
        percentiles("Validation time", "bppool_emitter_validation_seconds", "p99"),
        series(
            "Candidates by validation path (known: the block validated ahead of the slot)",
            "ops",
            (rate_by("path", "bppool_emitter_validation_path_total"), "{{path}}"),
        ),
        series(
            "Member daemons: delivery latency p90",
            "s",
            (quantile(0.9, "bppool_producer_delivery_seconds", by="le, instance"), "{{instance}}"),
        ),
        series(
            "Blocks handed to the node",
            "ops",
            (rate_by("method", "bppool_emitter_block_deliveries_total"), "{{method}}"),
        ),
        series(
            "Replica head height",
            "short",
            ("max(bppool_emitter_head_height)", "emitter"),
            ("max(bppool_chain_head_height)", "node"),
        ),
    ]


def pool_group() -> list[Panel]:
    return [
        stat(
            "Instances alive",
            "max(bppool_emitter_group_size)",
            description="Instances of the emitter group seen on the shared database (1: a single instance).",
        ),
        stat(
            "Leaders",
            "sum(bppool_emitter_group_leader)",
            description="Instances holding the lease: 1 when healthy (0 during a failover, at most 1.75 s).",
        ),
        stat(
            "Lease epoch", "max(bppool_emitter_lease_epoch)", description="Rises at every change of leader."
        ),
        stat(
            "Leaderless for",
            "max(bppool_emitter_group_leaderless_seconds)",
            unit="s",
            description="How long the group has had no lease holder (0: it has one).",
        ),
        stat("Failovers (1 h)", "sum(increase(bppool_emitter_failovers_total[1h]))"),
        stat(
            "Claims refused, not lost (1 h)",
            'sum(increase(bppool_emitter_claims_total{result!~"won|claimed"}[1h]))',
            description="Below the watermark, above the ceiling, too late or fenced: nothing was signed.",
        ),
        series(
            "Leader, by instance",
            "short",
            ("max by (instance) (bppool_emitter_group_leader)", "{{instance}}"),
        ),
        series(
            "Slot claims by result",
            "ops",
            (rate_by("result", "bppool_emitter_claims_total"), "{{result}}"),
            description="won: this instance signs the slot; claimed: another instance had it first.",
        ),
        series(
            "Slots won, by instance",
            "ops",
            (rate_by("instance", "bppool_emitter_claims_total", '{result="won"}'), "{{instance}}"),
        ),
        series(
            "Failovers and failed lease renewals",
            "short",
            (f"sum(increase(bppool_emitter_failovers_total[{RATE}]))", "failovers"),
            (f"sum(increase(bppool_emitter_lease_renewals_failed_total[{RATE}]))", "renewals failed"),
        ),
    ]


def pool_overview() -> Dashboard:
    board = dashboard(
        "bppool-pool",
        "bppool / Pool overview",
        "The pool's slots, candidates, emission latency and members.",
    )
    board = with_row(board, "Now", pool_now())
    board = with_row(board, "Slots", pool_slots())
    board = with_row(board, "Candidates and members", pool_candidates())
    return with_row(board, "Emitter group", pool_group())


def member_panels() -> list[Panel]:
    member = '{member=~"$member"}'
    return [
        stat("Active", f"max by (member) (bppool_emitter_member_active{member})", width=6),
        stat("Paid on chain", f"sum(bppool_dac_paid_total{member}) / 10000", unit=BPT, width=6),
        stat(
            "Share of blocks (1 h)",
            f"sum(bppool:member_win_share:rate1h{member})",
            unit="percentunit",
            width=6,
        ),
        stat(
            "Valid deliveries (15 m rate)",
            f"sum(bppool:member_valid_deliveries:rate15m{member})",
            unit="ops",
            width=6,
        ),
        series(
            "Deliveries by result",
            "ops",
            (
                rate_by("member, result", "bppool_emitter_candidates_received_total", member),
                "{{member}} {{result}}",
            ),
        ),
        series("Blocks built", "ops", (rate_by("member", "bppool_emitter_wins_total", member), "{{member}}")),
        series(
            "Share of the pool's blocks (1 h)",
            "percentunit",
            (f"bppool:member_win_share:rate1h{member}", "{{member}}"),
        ),
        series(
            "Paid on chain", BPT, (f"sum by (member) (bppool_dac_paid_total{member}) / 10000", "{{member}}")
        ),
    ]


def member_detail() -> Dashboard:
    board = dashboard(
        "bppool-member",
        "bppool / Member detail",
        "One member: deliveries, wins, share of the pool's blocks, payouts.",
    ).with_variable(
        QueryVariable("member")
        .label("Member")
        .datasource(DS)
        .query("label_values(bppool_emitter_member_active, member)")
        .multi(True)
        .include_all(True)
        .refresh(2)
    )
    return with_row(board, "Member", member_panels())


def chain_head() -> list[Panel]:
    return [
        stat("Head", "max(bppool_chain_head_height)"),
        stat("LIB", "max(bppool_chain_lib_height)"),
        stat("LIB lag (blocks)", "bppool:chain_lib_lag_blocks"),
        stat("Jailed producers", "max(bppool_chain_jailed_producers)"),
        stat("Active producers", "max(bppool_chain_active_producers)"),
        stat("Mempool", "max(bppool_chain_mempool_size)"),
        series(
            "Head and LIB",
            "short",
            ("max(bppool_chain_head_height)", "head"),
            ("max(bppool_chain_lib_height)", "LIB"),
        ),
        percentiles("Block apply time", "bppool_chain_block_apply_seconds", "p99 (5 m)", "p50"),
    ]


def chain_producers() -> list[Panel]:
    missed = f"sum by (producer) (increase(bppool_chain_missed_slots_total[{RATE}]))"
    produced = rate_by("producer", "bppool_chain_produced_blocks_total")
    return [
        series("Missed slots by producer", "short", (missed, "{{producer}}")),
        series("Blocks produced by producer", "ops", (produced, "{{producer}}")),
        series("Jailed", "short", ("max by (producer) (bppool_chain_producer_jailed)", "{{producer}}")),
        series("Stake", BPT, ("max by (producer) (bppool_chain_producer_stake) / 10000", "{{producer}}")),
    ]


def chain_transactions() -> list[Panel]:
    return [
        series(
            "Transactions",
            "ops",
            (f"sum(rate(bppool_chain_transactions_applied_total[{RATE}]))", "applied"),
            (rate_by("result", "bppool_chain_transactions_received_total"), "received: {{result}}"),
        ),
        series("Open executions", "short", ("sum by (state) (bppool_chain_executions_open)", "{{state}}")),
        series(
            "Minted and burned",
            BPT,
            ("max(bppool_chain_minted_total) / 10000", "minted"),
            ("max(bppool_chain_burned_total) / 10000", "burned"),
        ),
    ]


def chain() -> Dashboard:
    board = dashboard(
        "bppool-chain", "bppool / Chain", "Head and finality, block processing, producers, executions."
    )
    board = with_row(board, "Head and finality", chain_head())
    board = with_row(board, "Producers", chain_producers())
    return with_row(board, "Transactions and executions", chain_transactions())


def dac_rewards() -> list[Panel]:
    return [
        stat("Epochs closed", "sum(bppool_dac_epochs_closed_total)"),
        stat("Last epoch earnings", "max(bppool_dac_epoch_earnings) / 10000", unit=BPT),
        stat("Treasury", "max(bppool_dac_treasury_balance) / 10000", unit=BPT),
        stat("Transfers pending", "max(bppool_dac_transfers_pending)"),
        stat("Payout failures", "sum(bppool_dac_payout_failures_total)"),
        stat("Paid in all", "sum(bppool_dac_paid_total) / 10000", unit=BPT),
        series("Paid by member", BPT, ("sum by (member) (bppool_dac_paid_total) / 10000", "{{member}}")),
        series(
            "Earnings of the last epoch and treasury",
            BPT,
            ("max(bppool_dac_epoch_earnings) / 10000", "epoch earnings"),
            ("max(bppool_dac_treasury_balance) / 10000", "treasury"),
        ),
    ]


def dac_governance() -> list[Panel]:
    return [
        series("Proposals by state", "short", ("sum by (state) (bppool_dac_proposals)", "{{state}}")),
        series("Payouts pending", "short", ("max(bppool_dac_transfers_pending)", "pending")),
    ]


def dac() -> Dashboard:
    board = dashboard(
        "bppool-dac", "bppool / DAC and rewards", "Epochs, earnings, payouts, treasury and governance."
    )
    board = with_row(board, "Rewards", dac_rewards())
    return with_row(board, "Governance", dac_governance())


DASHBOARDS: dict[str, Callable[[], Dashboard]] = {
    "pool-overview": pool_overview,
    "member-detail": member_detail,
    "chain": chain,
    "dac-rewards": dac,
}


def render(build: Callable[[], Dashboard]) -> str:
    """The dashboard's JSON, stable for diffs (sorted keys, numbered panels)."""
    data: dict[str, Any] = json.loads(JSONEncoder(sort_keys=True, indent=2).encode(build().build()))
    for number, panel in enumerate(data.get("panels", []), start=1):
        panel["id"] = number
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--check", action="store_true", help="Compare instead of writing; exit 1 on drift.")
    args = parser.parse_args(argv)
    drift = []
    OUT.mkdir(parents=True, exist_ok=True)
    for name, build in DASHBOARDS.items():
        path = OUT / f"{name}.json"
        text = render(build)
        if args.check:
            if not path.exists() or path.read_text() != text:
                drift.append(path.name)
        else:
            path.write_text(text)
            print(f"wrote {path}")
    if drift:
        print(
            f"dashboards differ from deploy/grafana/dashboards.py: {', '.join(drift)}; run it to regenerate"
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
