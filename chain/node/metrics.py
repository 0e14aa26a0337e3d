"""The node's Prometheus metrics (prefix ``bppool_chain_``; base units; bounded labels).

Figures kept in the chain state (missed slots by producer, jailed producers, head) are read
from the head state at scrape time, so they are always consistent with it; the LIB is the fork
choice's (the highest any held branch reached), as ``get_info`` and the head stream report it.
One registry per node instance; one uvicorn worker per node (the node is stateful).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from chain.core import State, Store
from service_shell.metrics import preset

# Around the 500 ms slot: most blocks apply in milliseconds; anything near 0.5 s is trouble.
APPLY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)


class StateCollector(Collector):
    """Figures read from the fork choice's store and its head state at scrape time."""

    def __init__(self, store: Callable[[], Store | None], mempool_size: Callable[[], int]) -> None:
        self._store = store
        self._mempool_size = mempool_size

    def collect(self) -> Iterator[Metric]:
        store = self._store()
        mempool = GaugeMetricFamily("bppool_chain_mempool_size", "Transactions waiting in the mempool.")
        mempool.add_metric([], self._mempool_size())
        yield mempool
        if store is None:
            return
        state = store.state
        meta = state.chain
        head = GaugeMetricFamily("bppool_chain_head_height", "Height of the head block.")
        head.add_metric([], meta.height)
        yield head
        lib = GaugeMetricFamily("bppool_chain_lib_height", "Height of the last irreversible block.")
        lib.add_metric([], store.lib_height)
        yield lib
        slot = GaugeMetricFamily("bppool_chain_head_slot", "Slot of the head block.")
        slot.add_metric([], meta.slot)
        yield slot
        missed = CounterMetricFamily(
            "bppool_chain_missed_slots", "Scheduled slots a producer missed.", labels=["producer"]
        )
        produced = CounterMetricFamily(
            "bppool_chain_produced_blocks", "Blocks a producer produced.", labels=["producer"]
        )
        jailed = GaugeMetricFamily(
            "bppool_chain_producer_jailed", "1 when the producer is jailed.", labels=["producer"]
        )
        stake = GaugeMetricFamily(
            "bppool_chain_producer_stake",
            "Stake delegated to a producer (smallest units).",
            labels=["producer"],
        )
        for name, producer in sorted(state.producers.items()):
            missed.add_metric([name], producer.missed_total)
            produced.add_metric([name], producer.produced_total)
            jailed.add_metric([name], 1 if producer.jailed else 0)
            stake.add_metric([name], producer.stake)
        yield missed
        yield produced
        yield jailed
        yield stake
        count = GaugeMetricFamily("bppool_chain_jailed_producers", "Producers currently jailed.")
        count.add_metric([], sum(1 for p in state.producers.rows.values() if p.jailed))
        yield count
        active = GaugeMetricFamily("bppool_chain_active_producers", "Producers in the active schedule.")
        active.add_metric([], len(meta.schedule))
        yield active
        minted = CounterMetricFamily(
            "bppool_chain_minted", "Tokens minted as block rewards (smallest units)."
        )
        minted.add_metric([], meta.minted)
        yield minted
        burned = CounterMetricFamily("bppool_chain_burned", "Tokens burned by slashing (smallest units).")
        burned.add_metric([], meta.burned)
        yield burned
        yield from execution_metrics(state)


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
    registered = GaugeMetricFamily("bppool_chain_runners", "Runner registrations (service, account).")
    registered.add_metric([], len(runners(state).rows))
    yield registered


class NodeMetrics:
    """Counters and histograms the node updates as it works."""

    def __init__(self, store: Callable[[], Store | None], mempool_size: Callable[[], int]) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.transactions_applied = Counter(
            "bppool_chain_transactions_applied",
            "Transactions applied in canonical blocks.",
            registry=r,
        )
        self.transactions_received = preset(
            Counter(
                "bppool_chain_transactions_received",
                "Transactions pushed to the mempool, by result.",
                ["result"],
                registry=r,
            ),
            "result",
            ("accepted",),
        )
        self.blocks_received = Counter(
            "bppool_chain_blocks_received", "Blocks received, by result.", ["result"], registry=r
        )
        self.blocks_produced = Counter("bppool_chain_blocks_built", "Blocks this node built.", registry=r)
        self.block_build_seconds = Histogram(
            "bppool_chain_block_build_seconds",
            "Time to build, sign and store a block of this node's.",
            buckets=APPLY_BUCKETS,
            registry=r,
        )
        self.reorgs = Counter("bppool_chain_reorgs", "Head switches to another branch.", registry=r)
        self.block_apply_seconds = Histogram(
            "bppool_chain_block_apply_seconds",
            "Time to validate and apply a block that moved the head.",
            buckets=APPLY_BUCKETS,
            registry=r,
        )
        self.block_prepare_seconds = Histogram(
            "bppool_chain_block_prepare_seconds",
            "Time to validate a producer's candidate ahead of its signature (two-step push).",
            buckets=APPLY_BUCKETS,
            registry=r,
        )
        self.block_prepares = preset(
            Counter(
                "bppool_chain_block_prepares",
                "Candidates prepared, by path: a state transition (full) or the known outcome of "
                "a block of the same content prepared before (known).",
                ["path"],
                registry=r,
            ),
            "path",
            ("full", "known"),
        )
        self.peer_errors = Counter(
            "bppool_chain_peer_errors", "Failed requests to peers.", ["peer"], registry=r
        )
        r.register(StateCollector(store, mempool_size))
