"""The producer schedule and last-irreversible-block (LIB) rules.

* Desired schedule: the top ``max_producers`` unjailed, untombstoned producers with at least
  ``min_producer_stake``, by stake (name breaks ties), then sorted by name (eosio.system).
* Slot owner: ``schedule[(slot % (n * 12)) // 12]`` (Antelope's get_scheduled_producer).
* A new desired schedule becomes *pending* at the block that caused it; it becomes *active*
  at the first round boundary after that block is irreversible.
* LIB (legacy DPoS): the highest height that more than 2/3 of the active producers have
  built on, where a producer that produced at height ``h`` on this branch has built on every
  block up to ``h``. Jailed producers are left out of the count (see docs/chain.md for why).

Spec: ``docs/spec/transition.md`` §5 (the producer schedule) and §9 (LIB).
"""

from __future__ import annotations

from .state import ChainMeta, State


def compute_desired_schedule(state: State) -> tuple[str, ...]:
    """The schedule the current stakes and jail status call for (sorted by name)."""
    params = state.params
    eligible = [
        (p.stake, name)
        for name, p in state.producers.rows.items()
        if not p.jailed and not p.tombstoned and p.stake >= params.min_producer_stake
    ]
    eligible.sort(key=lambda item: (-item[0], item[1]))
    return tuple(sorted(name for _, name in eligible[: params.max_producers]))


def compute_round_length(state: State, schedule: tuple[str, ...]) -> int:
    """Slots in one round of ``schedule``."""
    return len(schedule) * state.params.producer_repetitions


def compute_slot_owner(schedule: tuple[str, ...], slot: int, repetitions: int) -> str:
    """The producer of ``slot`` under ``schedule``."""
    return schedule[(slot % (len(schedule) * repetitions)) // repetitions]


def is_pending_irreversible(meta: ChainMeta) -> bool:
    """True when the pending schedule's proposing block is irreversible."""
    return bool(meta.pending_schedule) and meta.pending_height <= meta.lib_height


def get_schedule_at(state: State, slot: int) -> tuple[str, ...]:
    """The active schedule at a ``slot`` after the state's slot (no blocks in between)."""
    meta = state.chain
    if slot > meta.slot and is_pending_irreversible(meta):
        round_length = compute_round_length(state, meta.schedule)
        next_boundary = (meta.slot // round_length + 1) * round_length
        if slot >= next_boundary:
            return meta.pending_schedule
    return meta.schedule


def get_scheduled_producer(state: State, slot: int) -> str:
    """The producer scheduled for ``slot`` (at or after the state's slot)."""
    return compute_slot_owner(get_schedule_at(state, slot), slot, state.params.producer_repetitions)


def get_next_slots_of(state: State, producer: str, after_slot: int, count: int) -> list[int]:
    """The next ``count`` slots after ``after_slot`` scheduled for ``producer``, assuming no
    block changes the schedule meanwhile (scans at most two rounds of the largest schedule)."""
    reps = state.params.producer_repetitions
    found: list[int] = []
    first = max(after_slot, state.chain.slot) + 1
    for slot in range(first, first + 2 * 125 * reps):
        if compute_slot_owner(get_schedule_at(state, slot), slot, reps) == producer:
            found.append(slot)
            if len(found) == count:
                break
    return found


def compute_lib_height(state: State) -> int:
    """The LIB height this branch's production implies (never below the current LIB)."""
    meta = state.chain
    producers = state.producers.rows
    heights = sorted(
        (
            producers[name].last_produced_height
            for name in meta.schedule
            if name in producers and not producers[name].jailed
        ),
        reverse=True,
    )
    if not heights:
        return meta.lib_height
    needed = (2 * len(heights)) // 3 + 1
    return max(meta.lib_height, heights[needed - 1])
