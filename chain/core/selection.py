"""Runner and verifier selection for paid executions.

Runners and verifiers are drawn stake-weighted among a service's runners with
``sha256(parent block id || execution id)`` as the seed: the block's own id cannot be used,
since the block commits to the state these choices produce. Every iteration is sorted.
"""

from __future__ import annotations

import hashlib

from .errors import NoRunner
from .execution_records import Runner, runner_key, runners, service_runners
from .servicetypes import TaskSpec
from .state import State

# --- helpers -------------------------------------------------------------------------------


def compute_seed(prev_id: str, execution_id: str) -> bytes:
    """The seed of an execution's draws: ``sha256(parent block id || execution id)``."""
    return hashlib.sha256(bytes.fromhex(prev_id) + bytes.fromhex(execution_id)).digest()


def draw_weighted(candidates: list[tuple[str, int]], seed: bytes) -> str:
    """One name from ``(name, weight)`` pairs (sorted by name), weight-proportional."""
    total = sum(w for _, w in candidates)
    point = int.from_bytes(seed, "big") % total
    for name, weight in candidates:
        if point < weight:
            return name
        point -= weight
    raise AssertionError("unreachable: the point is below the total weight")


def draw_verifiers(candidates: list[tuple[str, int]], count: int, seed: bytes) -> tuple[str, ...]:
    """Up to ``count`` distinct names, each drawn weight-proportionally without replacement."""
    pool = list(candidates)
    chosen = []
    for i in range(min(count, len(pool))):
        name = draw_weighted(pool, hashlib.sha256(seed + b"verifier" + i.to_bytes(4, "big")).digest())
        chosen.append(name)
        pool = [c for c in pool if c[0] != name]
    return tuple(sorted(chosen))


def get_service_runners(state: State, service_id: str) -> list[tuple[str, Runner]]:
    """The runners of a service, sorted by account."""
    record = service_runners(state).rows.get(service_id)
    names = record.runners if record else ()
    table = runners(state).rows
    return [(name, table[runner_key(service_id, name)]) for name in names]


# --- selection -----------------------------------------------------------------------------


def assign(
    state: State, service_id: str, task: TaskSpec, max_fee: int, named: str, seed: bytes
) -> tuple[str, int, tuple[str, ...]]:
    """``(runner, fee, verifiers)`` for a new execution, or :class:`NoRunner`."""
    registered = get_service_runners(state, service_id)
    if named:
        found = dict(registered).get(named)
        # Verify the named runner serves the service within the fee
        if found is None:
            raise NoRunner(f"{named} is not a runner of this service")
        if found.price > max_fee:
            raise NoRunner(f"{named} asks {found.price}, above the max fee {max_fee}")
        runner = named
    else:
        affordable = [(name, r.stake) for name, r in registered if r.price <= max_fee and r.stake > 0]
        # Verify some runner serves the service within the fee
        if not affordable:
            raise NoRunner(f"no runner of this service asks at most {max_fee}")
        runner = draw_weighted(affordable, seed)
    fee = dict(registered)[runner].price
    verifiers: tuple[str, ...] = ()
    if task.verification != "trusted":
        others = [(name, r.stake) for name, r in registered if name != runner and r.stake > 0]
        # Verify someone can verify the result
        if not others:
            raise NoRunner(f"task {task.name} is verified ({task.verification}) and needs a second runner")
        verifiers = draw_verifiers(others, state.params.verifiers_per_execution, seed)
    return runner, fee, verifiers
