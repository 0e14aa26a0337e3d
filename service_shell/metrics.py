"""Prometheus conventions shared by every bppool process.

* names: prefix ``bppool_<component>_``, base units (seconds, smallest token units),
  counters end in ``_total``, histograms of durations end in ``_seconds`` with buckets around
  the 500 ms slot and the 400 ms cutoff;
* labels: bounded values only (members, producers, outcomes, reasons; never slots or ids);
* label values known in advance are created at start (a series at 0, not a missing one, so
  rates and alerts see them from the first scrape);
* no ``*_created`` series (they double the series count and no dashboard uses them);
* one process, one registry: a service runs a single uvicorn worker (see
  :func:`require_single_worker`), so the client's multiprocess mode is never needed.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence

from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics

disable_created_metrics()  # type: ignore[no-untyped-call]


def preset(counter: Counter, label: str, values: Iterable[str]) -> Counter:
    """Create ``counter``'s series for every known ``label`` value (at 0)."""
    for value in values:
        counter.labels(**{label: value})
    return counter


def counter(
    registry: CollectorRegistry,
    name: str,
    documentation: str,
    labels: Sequence[str] = (),
    *,
    known: Sequence[str] = (),
) -> Counter:
    """A counter in ``registry``; with ``known``, the series of each known value of its one
    label created at 0 (see :func:`preset`)."""
    made = Counter(name, documentation, labels, registry=registry)
    return preset(made, labels[0], known) if known else made


def histogram(
    registry: CollectorRegistry,
    name: str,
    documentation: str,
    labels: Sequence[str] = (),
    *,
    buckets: Sequence[float],
) -> Histogram:
    """A histogram in ``registry`` with the given ``buckets``."""
    return Histogram(name, documentation, labels, buckets=buckets, registry=registry)


class MultipleWorkersError(RuntimeError):
    """The process was asked to run several workers, which would split its metrics."""


def require_single_worker() -> None:
    """Refuse to run as one of several workers of one service.

    The node and the pool service keep their state (the chain replica, the open slot, the
    registries behind ``/metrics``) in one process; several workers would each hold a copy
    and each answer scrapes with its own numbers. prometheus_client's multiprocess mode does
    not support the custom collectors these services use, so it is refused rather than
    half-supported: scale out with more processes (more members, more nodes), never workers.
    """
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        raise MultipleWorkersError(
            "PROMETHEUS_MULTIPROC_DIR is set: bppool services run one worker per process and do not "
            "support the multiprocess mode of the metrics client; unset it"
        )
    workers = os.environ.get("WEB_CONCURRENCY", "1")
    if workers.strip() not in ("", "1"):
        raise MultipleWorkersError(
            f"WEB_CONCURRENCY={workers}: bppool services run exactly one worker per process; "
            "run more processes instead"
        )
