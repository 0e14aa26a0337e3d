"""The emitter's Prometheus metrics (prefix ``bppool_emitter_``; base units; bounded labels).

Member labels are bounded by the pool's size (at most 125 members); nothing is labelled by
slot or block id. Histogram buckets sit around the 500 ms slot and the 400 ms cutoff.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Gauge
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from chain.core.state import State
from emitter.groupstore import CLAIM_RESULTS
from service_shell.metrics import counter, histogram

OFFSET_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.75, 1.0)
FAST_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 0.5)


@dataclass(frozen=True)
class Readings:
    """What the collected gauges read of the service, as callables read at each scrape."""

    pool: str
    members: Callable[[], Mapping[str, Mapping[str, Any]]]
    not_ready: Callable[[], Mapping[str, Any]]
    storage_ok: Callable[[], bool]
    storage_errors: Callable[[], int]
    chain_state: Callable[[], State]
    group: GroupReadings


@dataclass(frozen=True)
class GroupReadings:
    """What the group's gauges read: whether this instance leads, its epoch, the group."""

    shared: bool
    leads: Callable[[], bool]
    epoch: Callable[[], int]
    size: Callable[[], int]
    leaderless_seconds: Callable[[], float]


class MembershipCollector(Collector):
    """Gauges read at each scrape: members, readiness, storage and the chain's view of the pool."""

    def __init__(self, readings: Readings) -> None:
        self.readings = readings

    def collect(self) -> Iterator[Metric]:
        yield from self._members()
        yield from self._service()
        yield from self._chain()
        yield from self._group()

    def _members(self) -> Iterator[Metric]:
        members = GaugeMetricFamily("bppool_emitter_members", "Pool members by state.", labels=["state"])
        rows = self.readings.members()
        counts = dict.fromkeys(("applied", "active", "suspended", "removed"), 0)
        for member in rows.values():
            counts[member["status"]] = counts.get(member["status"], 0) + 1
        for state, count in sorted(counts.items()):
            members.add_metric([state], count)
        yield members
        active = GaugeMetricFamily(
            "bppool_emitter_member_active",
            "1 for each active member (0: applied, suspended, removed).",
            labels=["member"],
        )
        for account, member in sorted(rows.items()):
            active.add_metric([account], 1 if member["status"] == "active" else 0)
        yield active

    def _service(self) -> Iterator[Metric]:
        # One reading of the readiness for both gauges, as /readyz answers it.
        reasons = self.readings.not_ready()
        yield GaugeMetricFamily(
            "bppool_emitter_following",
            "1 while the replica follows the node's canonical head (same head, or within one slot).",
            value=0 if "following" in reasons else 1,
        )
        yield GaugeMetricFamily(
            "bppool_emitter_ready",
            "1 while /readyz answers 200 (see docs/operations.md, Readiness).",
            value=0 if reasons else 1,
        )
        yield GaugeMetricFamily(
            "bppool_emitter_storage_ok",
            "1 while the storage takes writes (0: failing, see /readyz).",
            value=1 if self.readings.storage_ok() else 0,
        )
        yield CounterMetricFamily(
            "bppool_emitter_storage_errors",
            "Writes the storage refused (full disk, read-only file system or database).",
            value=self.readings.storage_errors(),
        )

    def _chain(self) -> Iterator[Metric]:
        pool = self.readings.pool
        chain_state = self.readings.chain_state()
        yield GaugeMetricFamily(
            "bppool_emitter_in_schedule",
            "1 when the pool producer is in the active schedule.",
            value=1 if pool in chain_state.chain.schedule else 0,
        )
        # What the chain says about the pool: its own accounting of the pool producer's slots
        # on the canonical chain the service follows (a reorg may lower it: gauges).
        producer = chain_state.producers.rows.get(pool)
        yield GaugeMetricFamily(
            "bppool_emitter_chain_missed_slots",
            "Pool slots without a pool block on the followed canonical chain, since genesis "
            "(the chain's count, whatever the emitter recorded for them).",
            value=producer.missed_total if producer else 0,
        )
        yield GaugeMetricFamily(
            "bppool_emitter_chain_window_missed_slots",
            "Missed pool slots in the chain's liveness window (the pool producer is jailed when "
            "a full window holds more than liveness_window - min_signed).",
            value=producer.window_missed if producer else 0,
        )

    def _group(self) -> Iterator[Metric]:
        group = self.readings.group
        yield GaugeMetricFamily(
            "bppool_emitter_group_enabled",
            "1 when this instance is part of a group on a shared database (0: single instance).",
            value=1 if group.shared else 0,
        )
        yield GaugeMetricFamily(
            "bppool_emitter_group_leader",
            "1 while this instance holds the group's lease (runs fallbacks, the DAC's jobs, admin writes).",
            value=1 if group.leads() else 0,
        )
        yield GaugeMetricFamily(
            "bppool_emitter_group_size",
            "Instances of the group seen alive on the database at this instance's last round.",
            value=group.size(),
        )
        yield GaugeMetricFamily(
            "bppool_emitter_lease_epoch",
            "The fencing epoch of the lease this instance holds (0: it holds none).",
            value=group.epoch(),
        )
        yield GaugeMetricFamily(
            "bppool_emitter_group_leaderless_seconds",
            "How long the group has had no lease holder, as this instance sees it (0: it has one).",
            value=group.leaderless_seconds(),
        )


class EmitterMetrics:
    """The emitter's metrics in their own registry; the gauges collected at each scrape
    read the service through the ``Readings`` given to :meth:`collect_from`."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._add_intake(self.registry)
        self._add_emission(self.registry)
        self._add_service(self.registry)
        self._add_group(self.registry)

    def collect_from(self, readings: Readings) -> None:
        """Collect the service's gauges through ``readings`` (read once now, to describe
        them: call it when the service is wired)."""
        self.registry.register(MembershipCollector(readings))

    def _add_intake(self, r: CollectorRegistry) -> None:
        self.candidates = counter(
            r,
            "bppool_emitter_candidates_received",
            "Candidate deliveries by member and result (selected, valid or the rejection).",
            ["member", "result"],
        )
        self.arrival_offset = histogram(
            r,
            "bppool_emitter_arrival_offset_seconds",
            "Arrival time of candidates after their slot opened.",
            buckets=OFFSET_BUCKETS,
        )
        self.slot_outcomes = counter(
            r,
            "bppool_emitter_slot_outcomes",
            "Pool slots by outcome (emitted, fallback, missed).",
            ["outcome"],
            known=("emitted", "fallback", "missed"),
        )
        self.validation_seconds = histogram(
            r,
            "bppool_emitter_validation_seconds",
            "Time from a candidate's arrival to its verdict (emission included when selected).",
            buckets=FAST_BUCKETS,
        )
        self.validation_path = counter(
            r,
            "bppool_emitter_validation_path",
            "Candidates validated by a state transition (full) or by the known outcome of the "
            "block validated ahead for the slot, or of an earlier candidate of the same content "
            "(known).",
            ["path"],
            known=("full", "known"),
        )

    def _add_emission(self, r: CollectorRegistry) -> None:
        self.expected_blocks = counter(
            r,
            "bppool_emitter_expected_blocks",
            "Blocks validated ahead of a pool slot from the mempool (what members are expected to build).",
        )
        self.emit_seconds = histogram(
            r,
            "bppool_emitter_emit_seconds",
            "Time from the selected candidate's arrival to a node accepting the emitted block.",
            buckets=FAST_BUCKETS,
        )
        self.wins = counter(r, "bppool_emitter_wins", "Emitted blocks built by each member.", ["member"])
        self.deliveries = counter(
            r,
            "bppool_emitter_block_deliveries",
            "Emitted blocks handed to a node, by method (commit of a prepared block, or push).",
            ["method"],
            known=("commit", "push"),
        )
        self.push_failures = counter(
            r, "bppool_emitter_push_failures", "Failed pushes of emitted blocks, by node.", ["node"]
        )

    def _add_group(self, r: CollectorRegistry) -> None:
        self.claims = counter(
            r,
            "bppool_emitter_claims",
            "Slot claims this instance made, by result: won, or why refused (claimed by another "
            "instance, below the watermark, above the ceiling, too late, fenced).",
            ["result"],
            known=CLAIM_RESULTS,
        )
        self.lease_renewals_failed = counter(
            r,
            "bppool_emitter_lease_renewals_failed",
            "Rounds in which this instance, holding the lease, could not renew it (lost or unreachable).",
        )
        self.failovers = counter(
            r,
            "bppool_emitter_failovers",
            "Times this instance took the lease over from another instance.",
        )

    def _add_service(self, r: CollectorRegistry) -> None:
        self.requests_rejected = counter(
            r,
            "bppool_emitter_requests_rejected",
            "Member requests refused before intake, by reason.",
            ["reason"],
        )
        self.head_height = Gauge("bppool_emitter_head_height", "Height of the replica's head.", registry=r)
        self.pool_slot = Gauge("bppool_emitter_pool_slot", "The last pool slot opened.", registry=r)
        self.last_emission = Gauge(
            "bppool_emitter_last_emission_timestamp_seconds", "When the last block was emitted.", registry=r
        )
