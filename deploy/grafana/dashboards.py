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
from collections.abc import Callable
from pathlib import Path
from typing import Any

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


def pool_overview() -> Dashboard:
    return (
        dashboard(
            "bppool-pool",
            "bppool / Pool overview",
            "The pool's slots, candidates, emission latency and members.",
        )
        .with_row(Row("Now"))
        .with_panel(
            stat("Emitted (1 h)", 'sum(increase(bppool_emitter_slot_outcomes_total{outcome="emitted"}[1h]))')
        )
        .with_panel(
            stat(
                "Fallback (1 h)", 'sum(increase(bppool_emitter_slot_outcomes_total{outcome="fallback"}[1h]))'
            )
        )
        .with_panel(
            stat("Missed (1 h)", 'sum(increase(bppool_emitter_slot_outcomes_total{outcome="missed"}[1h]))')
        )
        .with_panel(stat("Active members", 'sum(bppool_emitter_members{state="active"})'))
        .with_panel(
            stat(
                "Emitter ready",
                "min(bppool_emitter_ready)",
                description="1 while /readyz answers 200: following the node's canonical head, no task down.",
            )
        )
        .with_panel(stat("Pool in schedule", "max(bppool_emitter_in_schedule)"))
        .with_panel(
            stat(
                "Missed on chain (1 h)",
                "max(delta(bppool_emitter_chain_missed_slots[1h]))",
                description="Pool slots without a pool block on the canonical chain, as the chain counts them.",
            )
        )
        .with_panel(
            stat(
                "Task failures (1 h)",
                "sum(increase(bppool_task_failures_total[1h]))",
                description="Background tasks and jobs that failed in any service (each restarted).",
            )
        )
        .with_row(Row("Slots"))
        .with_panel(series("Pool slots by outcome", "ops", ("bppool:pool_slots:rate5m", "{{outcome}}")))
        .with_panel(
            series(
                "Fallback and missed share",
                "percentunit",
                ("bppool:pool_fallback_ratio:rate15m", "fallback"),
                ("bppool:pool_missed_ratio:rate15m", "missed"),
            )
        )
        .with_panel(
            series(
                "Pool slots missed on the chain (the chain's count, whatever the emitter recorded)",
                "short",
                ("max(bppool_emitter_chain_missed_slots)", "since genesis"),
                ("max(bppool_emitter_chain_window_missed_slots)", "in the liveness window"),
            )
        )
        .with_panel(
            series(
                "Background task failures, by service and task",
                "short",
                (f"sum by (job, task) (increase(bppool_task_failures_total[{RATE}]))", "{{job}} {{task}}"),
            )
        )
        .with_panel(
            series(
                "Emission latency (arrival of the winner to the node)",
                "s",
                (
                    f"histogram_quantile(0.5, sum by (le) (rate(bppool_emitter_emit_seconds_bucket[{RATE}])))",
                    "p50",
                ),
                ("bppool:emitter_emit_seconds:p99_5m", "p99 (5 m)"),
            )
        )
        .with_panel(
            series(
                "Candidate arrival after the slot opened",
                "s",
                ("bppool:emitter_arrival_offset_seconds:p50_5m", "p50 (5 m)"),
                (
                    f"histogram_quantile(0.9, sum by (le) (rate(bppool_emitter_arrival_offset_seconds_bucket[{RATE}])))",
                    "p90",
                ),
            )
        )
        .with_row(Row("Candidates and members"))
        .with_panel(
            series(
                "Candidates by result",
                "ops",
                (f"sum by (result) (rate(bppool_emitter_candidates_received_total[{RATE}]))", "{{result}}"),
            )
        )
        .with_panel(
            series(
                "Blocks built by member",
                "ops",
                (f"sum by (member) (rate(bppool_emitter_wins_total[{RATE}]))", "{{member}}"),
            )
        )
        .with_panel(
            series(
                "Validation time",
                "s",
                (
                    f"histogram_quantile(0.99, sum by (le) (rate(bppool_emitter_validation_seconds_bucket[{RATE}])))",
                    "p99",
                ),
            )
        )
        .with_panel(
            series(
                "Candidates by validation path (known: the block validated ahead of the slot)",
                "ops",
                (f"sum by (path) (rate(bppool_emitter_validation_path_total[{RATE}]))", "{{path}}"),
            )
        )
        .with_panel(
            series(
                "Member daemons: delivery latency p90",
                "s",
                (
                    f"histogram_quantile(0.9, sum by (le, instance) (rate(bppool_producer_delivery_seconds_bucket[{RATE}])))",
                    "{{instance}}",
                ),
            )
        )
        .with_panel(
            series(
                "Blocks handed to the node",
                "ops",
                (f"sum by (method) (rate(bppool_emitter_block_deliveries_total[{RATE}]))", "{{method}}"),
            )
        )
        .with_panel(
            series(
                "Replica head height",
                "short",
                ("max(bppool_emitter_head_height)", "emitter"),
                ("max(bppool_chain_head_height)", "node"),
            )
        )
    )


def member_detail() -> Dashboard:
    member = '{member=~"$member"}'
    return (
        dashboard(
            "bppool-member",
            "bppool / Member detail",
            "One member: deliveries, wins, share of the pool's blocks, payouts.",
        )
        .with_variable(
            QueryVariable("member")
            .label("Member")
            .datasource(DS)
            .query("label_values(bppool_emitter_member_active, member)")
            .multi(True)
            .include_all(True)
            .refresh(2)
        )
        .with_row(Row("Member"))
        .with_panel(stat("Active", f"max by (member) (bppool_emitter_member_active{member})", width=6))
        .with_panel(stat("Paid on chain", f"sum(bppool_dac_paid_total{member}) / 10000", unit=BPT, width=6))
        .with_panel(
            stat(
                "Share of blocks (1 h)",
                f"sum(bppool:member_win_share:rate1h{member})",
                unit="percentunit",
                width=6,
            )
        )
        .with_panel(
            stat(
                "Valid deliveries (15 m rate)",
                f"sum(bppool:member_valid_deliveries:rate15m{member})",
                unit="ops",
                width=6,
            )
        )
        .with_panel(
            series(
                "Deliveries by result",
                "ops",
                (
                    f"sum by (member, result) (rate(bppool_emitter_candidates_received_total{member}[{RATE}]))",
                    "{{member}} {{result}}",
                ),
            )
        )
        .with_panel(
            series(
                "Blocks built",
                "ops",
                (f"sum by (member) (rate(bppool_emitter_wins_total{member}[{RATE}]))", "{{member}}"),
            )
        )
        .with_panel(
            series(
                "Share of the pool's blocks (1 h)",
                "percentunit",
                (f"bppool:member_win_share:rate1h{member}", "{{member}}"),
            )
        )
        .with_panel(
            series(
                "Paid on chain",
                BPT,
                (f"sum by (member) (bppool_dac_paid_total{member}) / 10000", "{{member}}"),
            )
        )
    )


def chain() -> Dashboard:
    return (
        dashboard(
            "bppool-chain", "bppool / Chain", "Head and finality, block processing, producers, executions."
        )
        .with_row(Row("Head and finality"))
        .with_panel(stat("Head", "max(bppool_chain_head_height)"))
        .with_panel(stat("LIB", "max(bppool_chain_lib_height)"))
        .with_panel(stat("LIB lag (blocks)", "bppool:chain_lib_lag_blocks"))
        .with_panel(stat("Jailed producers", "max(bppool_chain_jailed_producers)"))
        .with_panel(stat("Active producers", "max(bppool_chain_active_producers)"))
        .with_panel(stat("Mempool", "max(bppool_chain_mempool_size)"))
        .with_panel(
            series(
                "Head and LIB",
                "short",
                ("max(bppool_chain_head_height)", "head"),
                ("max(bppool_chain_lib_height)", "LIB"),
            )
        )
        .with_panel(
            series(
                "Block apply time",
                "s",
                ("bppool:chain_block_apply_seconds:p99_5m", "p99 (5 m)"),
                (
                    f"histogram_quantile(0.5, sum by (le) (rate(bppool_chain_block_apply_seconds_bucket[{RATE}])))",
                    "p50",
                ),
            )
        )
        .with_row(Row("Producers"))
        .with_panel(
            series(
                "Missed slots by producer",
                "short",
                (f"sum by (producer) (increase(bppool_chain_missed_slots_total[{RATE}]))", "{{producer}}"),
            )
        )
        .with_panel(
            series(
                "Blocks produced by producer",
                "ops",
                (f"sum by (producer) (rate(bppool_chain_produced_blocks_total[{RATE}]))", "{{producer}}"),
            )
        )
        .with_panel(
            series("Jailed", "short", ("max by (producer) (bppool_chain_producer_jailed)", "{{producer}}"))
        )
        .with_panel(
            series("Stake", BPT, ("max by (producer) (bppool_chain_producer_stake) / 10000", "{{producer}}"))
        )
        .with_row(Row("Transactions and executions"))
        .with_panel(
            series(
                "Transactions",
                "ops",
                (f"sum(rate(bppool_chain_transactions_applied_total[{RATE}]))", "applied"),
                (
                    f"sum by (result) (rate(bppool_chain_transactions_received_total[{RATE}]))",
                    "received: {{result}}",
                ),
            )
        )
        .with_panel(
            series("Open executions", "short", ("sum by (state) (bppool_chain_executions_open)", "{{state}}"))
        )
        .with_panel(
            series(
                "Minted and burned",
                BPT,
                ("max(bppool_chain_minted_total) / 10000", "minted"),
                ("max(bppool_chain_burned_total) / 10000", "burned"),
            )
        )
    )


def dac() -> Dashboard:
    return (
        dashboard(
            "bppool-dac", "bppool / DAC and rewards", "Epochs, earnings, payouts, treasury and governance."
        )
        .with_row(Row("Rewards"))
        .with_panel(stat("Epochs closed", "sum(bppool_dac_epochs_closed_total)"))
        .with_panel(stat("Last epoch earnings", "max(bppool_dac_epoch_earnings) / 10000", unit=BPT))
        .with_panel(stat("Treasury", "max(bppool_dac_treasury_balance) / 10000", unit=BPT))
        .with_panel(stat("Transfers pending", "max(bppool_dac_transfers_pending)"))
        .with_panel(stat("Payout failures", "sum(bppool_dac_payout_failures_total)"))
        .with_panel(stat("Paid in all", "sum(bppool_dac_paid_total) / 10000", unit=BPT))
        .with_panel(
            series("Paid by member", BPT, ("sum by (member) (bppool_dac_paid_total) / 10000", "{{member}}"))
        )
        .with_panel(
            series(
                "Earnings of the last epoch and treasury",
                BPT,
                ("max(bppool_dac_epoch_earnings) / 10000", "epoch earnings"),
                ("max(bppool_dac_treasury_balance) / 10000", "treasury"),
            )
        )
        .with_row(Row("Governance"))
        .with_panel(
            series("Proposals by state", "short", ("sum by (state) (bppool_dac_proposals)", "{{state}}"))
        )
        .with_panel(series("Payouts pending", "short", ("max(bppool_dac_transfers_pending)", "pending")))
    )


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
