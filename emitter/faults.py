"""Named fault-injection points on the emission path, for crash tests.

``BPPOOL_FAULT=<point>`` (or ``<point>:<n>``) makes the pool service kill itself with
``SIGKILL`` (nothing flushed, nothing cleaned up, as a power cut of the process) the first
(or ``n``-th) time it reaches ``<point>``. Unset, every point is one comparison. The crash
tests run the real service with each point in turn and check that the blocks the node got are
exactly the recorded emissions.
"""

from __future__ import annotations

import logging
import os
import signal

FAULT_ENV = "BPPOOL_FAULT"

POINTS: dict[str, str] = {
    "emit.after_claim": "a member's block's slot is claimed (committed); nothing signed",
    "emit.after_sign": "a member's block is claimed and countersigned in memory; nothing recorded",
    "emit.after_record": "a member's block is recorded (committed); nothing of it sent",
    "emit.after_commit_sent": "the commit (the pool's signature) of a prepared block is on the wire",
    "fallback.after_claim": "a fallback block's slot is claimed (committed); nothing signed",
    "fallback.after_sign": "a fallback block is claimed and signed in memory; nothing recorded",
    "fallback.after_record": "a fallback block is recorded (committed); nothing of it sent",
    "deliver.after_accept": "a node took an emitted block; which node is not recorded yet",
    "recovery.after_push": "after a restart, a recorded emission no node had taken was pushed",
}

log = logging.getLogger("bppool.emitter")


class FaultSpecError(ValueError):
    """``BPPOOL_FAULT`` names no known point or has a bad count."""


class Faults:
    """The armed fault point (at most one) and how many times it was reached."""

    def __init__(self, spec: str | None) -> None:
        self.point: str | None = None
        self.after = 1
        self.reached = 0
        if not spec:
            return
        point, _, count = spec.partition(":")
        if point not in POINTS:
            raise FaultSpecError(f"{FAULT_ENV}={spec!r}: unknown point; choose one of {', '.join(POINTS)}")
        if count:
            if not count.isascii() or not count.isdigit() or int(count) < 1:
                raise FaultSpecError(f"{FAULT_ENV}={spec!r}: the count after ':' must be a positive integer")
            self.after = int(count)
        self.point = point

    @classmethod
    def from_env(cls) -> Faults:
        """The point armed by ``BPPOOL_FAULT`` (none when unset)."""
        return cls(os.environ.get(FAULT_ENV))

    def hit(self, point: str, slot: int) -> None:
        """Kill the process here when ``point`` is armed and reached for the n-th time."""
        if point != self.point:
            return
        self.reached += 1
        if self.reached >= self.after:
            log.critical(
                "fault injection: killing the process at %s (slot %d): %s", point, slot, POINTS[point]
            )
            os.kill(os.getpid(), signal.SIGKILL)
