"""The DAC's metrics on the pool service's ``/metrics``: gauges and counters it updates, and a
collector that reads proposals, the treasury and confirmed payouts from the database."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.engine import Engine

from pool_dac import crud
from pool_dac.core.governance import STATES


class DacCollector(Collector):
    """Read at each scrape from the database (so they survive restarts)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[Metric]:
        proposals = GaugeMetricFamily("bppool_dac_proposals", "Proposals by state.", labels=["state"])
        counts = dict.fromkeys(STATES, 0)
        with contextlib.suppress(Exception):
            counts.update(crud.count_proposals_by_state(self.engine))
        for state, n in sorted(counts.items()):
            proposals.add_metric([state], n)
        yield proposals
        treasury = GaugeMetricFamily("bppool_dac_treasury_balance", "Treasury balance (smallest units).")
        with contextlib.suppress(Exception):
            treasury.add_metric([], crud.treasury(self.engine)["balance"])
        yield treasury
        paid = CounterMetricFamily(
            "bppool_dac_paid", "Payouts confirmed on chain, by member (smallest units).", labels=["member"]
        )
        with contextlib.suppress(Exception):
            for member, total in sorted(crud.paid_by_member(self.engine).items()):
                paid.add_metric([member], total)
        yield paid


class DacMetrics:
    """The DAC's gauges and counters, registered with its collector in ``registry``."""

    def __init__(self, registry: CollectorRegistry, engine: Engine) -> None:
        self.epoch_earnings = Gauge(
            "bppool_dac_epoch_earnings",
            "Earnings of the last closed epoch (smallest units).",
            registry=registry,
        )
        self.epochs_closed = Counter(
            "bppool_dac_epochs_closed", "Epochs closed with a statement.", registry=registry
        )
        self.payout_failures = Counter(
            "bppool_dac_payout_failures", "Payout or spend transactions the node refused.", registry=registry
        )
        self.transfers_pending = Gauge(
            "bppool_dac_transfers_pending",
            "Payouts and spends not yet confirmed on chain.",
            registry=registry,
        )
        registry.register(DacCollector(engine))
