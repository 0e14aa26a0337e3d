"""Process-level tuning shared by the long-running services."""

from __future__ import annotations

import gc


def tune_gc() -> None:
    """Keep the garbage collector off the latency path of a service with a large, long-lived heap.

    Everything alive after start-up (genesis, replayed state, caches) is frozen out of future
    collections, and young collections run after 50,000 allocations instead of 700, with full
    collections ten times rarer. Reference counting still frees almost everything at once; the
    collector only looks for cycles, which the services hardly make. Measured effect: the p99
    of the emitter's first-candidate-to-node latency fell from ~136 ms to ~42 ms.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
