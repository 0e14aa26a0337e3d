"""The node's Prometheus metrics (prefix ``bppool_chain_``; base units; bounded labels).

Figures kept in the chain state (missed slots by producer, jailed producers, head) are read
from the head state at scrape time, so they are always consistent with it; the LIB is the fork
choice's (the highest any held branch reached), as ``get_info`` and the head stream report it.
One registry per node instance; one uvicorn worker per node (the node is stateful).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from chain.core import State, Store
from chain.core.state import Producer
from service_shell.metrics import counter, histogram

# Around the 500 ms slot: most blocks apply in milliseconds; anything near 0.5 s is trouble.
APPLY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)


class StateCollector(Collector):
    """Figures read from the fork choice's store and its head state at scrape time."""

    def __init__(self, store: Callable[[], Store | None], mempool_size: Callable[[], int]) -> None:
        self._store = store
        self._mempool_size = mempool_size

    def collect(self) -> Iterator[Metric]:
        store = self._store()
        yield GaugeMetricFamily(
            "bppool_chain_mempool_size", "Transactions waiting in the mempool.", value=self._mempool_size()
        )
        if store is None:
            return
        state = store.state
        meta = state.chain
        yield GaugeMetricFamily("bppool_chain_head_height", "Height of the head block.", value=meta.height)
        yield GaugeMetricFamily(
            "bppool_chain_lib_height", "Height of the last irreversible block.", value=store.lib_height
        )
        yield GaugeMetricFamily("bppool_chain_head_slot", "Slot of the head block.", value=meta.slot)
        yield from producer_metrics(state)
        yield GaugeMetricFamily(
            "bppool_chain_jailed_producers",
            "Producers currently jailed.",
            value=sum(1 for p in state.producers.rows.values() if p.jailed),
        )
        yield GaugeMetricFamily(
            "bppool_chain_active_producers", "Producers in the active schedule.", value=len(meta.schedule)
        )
        yield CounterMetricFamily(
            "bppool_chain_minted", "Tokens minted as block rewards (smallest units).", value=meta.minted
        )
        yield CounterMetricFamily(
            "bppool_chain_burned", "Tokens burned by slashing (smallest units).", value=meta.burned
        )
        yield from execution_metrics(state)


# Per producer: (family, name, help, reading of its record).
PRODUCER_FIGURES: tuple[
    tuple[type[CounterMetricFamily | GaugeMetricFamily], str, str, Callable[[Producer], int]], ...
] = (
    (
        CounterMetricFamily,
        "bppool_chain_missed_slots",
        "Scheduled slots a producer missed.",
        lambda p: p.missed_total,
    ),
    (
        CounterMetricFamily,
        "bppool_chain_produced_blocks",
        "Blocks a producer produced.",
        lambda p: p.produced_total,
    ),
    (
        GaugeMetricFamily,
        "bppool_chain_producer_jailed",
        "1 when the producer is jailed.",
        lambda p: 1 if p.jailed else 0,
    ),
    (
        GaugeMetricFamily,
        "bppool_chain_producer_stake",
        "Stake delegated to a producer (smallest units).",
        lambda p: p.stake,
    ),
)


def producer_metrics(state: State) -> Iterator[Metric]:
    """Each producer's missed slots, produced blocks, jail and stake (read from the head state)."""
    rows = sorted(state.producers.items())
    for family, name, documentation, read in PRODUCER_FIGURES:
        metric = family(name, documentation, labels=["producer"])
        for producer_name, producer in rows:
            metric.add_metric([producer_name], read(producer))
        yield metric


def execution_metrics(state: State) -> Iterator[Metric]:
    """Open executions by state and registered runners (read from the head state)."""
    from chain.core.execution_records import OPEN_STATES, executions, open_executions, runners

    table = executions(state).rows
    open_by_state = dict.fromkeys(OPEN_STATES, 0)
    for execution_id in open_executions(state).rows:
        open_by_state[table[execution_id].status] += 1
    gauge = GaugeMetricFamily(
        "bppool_chain_executions_open", "Executions waiting for a result or for verdicts.", labels=["state"]
    )
    for name, count in open_by_state.items():
        gauge.add_metric([name], count)
    yield gauge
    yield GaugeMetricFamily(
        "bppool_chain_runners", "Runner registrations (service, account).", value=len(runners(state).rows)
    )


class NodeMetrics:
    """Counters and histograms the node updates as it works."""

    def __init__(self, store: Callable[[], Store | None], mempool_size: Callable[[], int]) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.transactions_applied = counter(
            r, "bppool_chain_transactions_applied", "Transactions applied in canonical blocks."
        )
        self.transactions_received = counter(
            r,
            "bppool_chain_transactions_received",
            "Transactions pushed to the mempool, by result.",
            ["result"],
            known=("accepted",),
        )
        self.blocks_received = counter(
            r, "bppool_chain_blocks_received", "Blocks received, by result.", ["result"]
        )
        self.blocks_produced = counter(r, "bppool_chain_blocks_built", "Blocks this node built.")
        self.block_build_seconds = histogram(
            r,
            "bppool_chain_block_build_seconds",
            "Time to build, sign and store a block of this node's.",
            buckets=APPLY_BUCKETS,
        )
        self.reorgs = counter(r, "bppool_chain_reorgs", "Head switches to another branch.")
        self.block_apply_seconds = histogram(
            r,
            "bppool_chain_block_apply_seconds",
            "Time to validate and apply a block that moved the head.",
            buckets=APPLY_BUCKETS,
        )
        self.block_prepare_seconds = histogram(
            r,
            "bppool_chain_block_prepare_seconds",
            "Time to validate a producer's candidate ahead of its signature (two-step push).",
            buckets=APPLY_BUCKETS,
        )
        self.block_prepares = counter(
            r,
            "bppool_chain_block_prepares",
            "Candidates prepared, by path: a state transition (full) or the known outcome of "
            "a block of the same content prepared before (known).",
            ["path"],
            known=("full", "known"),
        )
        self.peer_errors = counter(r, "bppool_chain_peer_errors", "Failed requests to peers.", ["peer"])
        r.register(StateCollector(store, mempool_size))
