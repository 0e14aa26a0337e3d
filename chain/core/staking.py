"""Staking, liveness and slashing (the shapes of Cosmos SDK x/staking and x/slashing).

* Delegations live on the producer record; a producer's stake is their sum.
* Unstaking moves an amount into an unbonding entry that matures after ``unbonding_slots``.
* Liveness: each own slot of an unjailed producer is recorded in a window of the last
  ``liveness_window`` own slots; once the window is full and more than
  ``window - min_signed`` of them were missed, the producer is jailed for ``jail_slots`` and
  slashed ``downtime_slash_bps``. Downtime never tombstones.
* Double production: ``double_sign_slash_bps`` and a tombstone (jailed forever), once.
* A slash reaches every delegation and every unbonding entry from that producer created at or
  after the infraction slot. Slashed tokens are burned. Each delegation and entry loses
  ``floor(amount * bps / 10000)``, so rounding always favours the delegator.

Spec: ``docs/spec/transition.md`` §5 (helpers: staking, liveness, slashing).
"""

from __future__ import annotations

from .helpers import get_producer, record_burned
from .params import BPS
from .state import Producer, State, Unbonding


def set_delegation(state: State, producer_name: str, delegator: str, amount: int) -> None:
    """Set ``delegator``'s delegation to ``producer_name`` (0 removes it); updates stake."""
    producer = get_producer(state, producer_name)
    delegations = dict(producer.delegations)
    if amount:
        delegations[delegator] = amount
    else:
        delegations.pop(delegator, None)
    ordered = tuple(sorted(delegations.items()))
    state.producers.put(
        producer_name,
        producer._replace(delegations=ordered, stake=sum(a for _, a in ordered)),
    )


def get_delegation(state: State, producer_name: str, delegator: str) -> int:
    """``delegator``'s current delegation to ``producer_name`` (0 when none)."""
    producer = state.producers.rows.get(producer_name)
    if producer is None:
        return 0
    for name, amount in producer.delegations:
        if name == delegator:
            return amount
    return 0


def add_unbonding_entry(state: State, delegator: str, producer: str, amount: int, created_slot: int) -> int:
    """Start unbonding ``amount``; returns the slot at which it can be withdrawn."""
    completion = created_slot + state.params.unbonding_slots
    current = state.unbonding.rows.get(delegator)
    entries = current.entries if current else ()
    state.unbonding.put(delegator, Unbonding(entries + ((producer, amount, created_slot, completion),)))
    return completion


def slash_producer(state: State, name: str, fraction_bps: int, infraction_slot: int) -> int:
    """Slash ``name``'s delegations and later unbonding entries; burn and return the total."""
    producer = get_producer(state, name)
    burned = 0
    delegations = []
    for delegator, amount in producer.delegations:
        cut = amount * fraction_bps // BPS
        burned += cut
        if amount - cut:
            delegations.append((delegator, amount - cut))
    state.producers.put(
        name,
        producer._replace(delegations=tuple(delegations), stake=sum(a for _, a in delegations)),
    )
    for delegator in sorted(state.unbonding.rows):
        record = state.unbonding.rows[delegator]
        changed = False
        entries = []
        for entry in record.entries:
            prod, amount, created, completion = entry
            if prod == name and created >= infraction_slot:
                cut = amount * fraction_bps // BPS
                if cut:
                    burned += cut
                    changed = True
                    entry = (prod, amount - cut, created, completion)
            if entry[1]:
                entries.append(entry)
            else:
                changed = True
        if changed:
            if entries:
                state.unbonding.put(delegator, Unbonding(tuple(entries)))
            else:
                state.unbonding.delete(delegator)
    record_burned(state, burned)
    return burned


def jail_producer(state: State, name: str, until_slot: int, *, tombstone: bool = False) -> None:
    """Jail ``name`` until ``until_slot`` (forever when tombstoned); reset its window."""
    producer = get_producer(state, name)
    state.producers.put(
        name,
        producer._replace(
            jailed=True,
            jailed_until=until_slot,
            tombstoned=producer.tombstoned or tombstone,
            window="",
            window_missed=0,
        ),
    )


def compute_window_update(producer: Producer, missed: bool, window_size: int) -> tuple[str, int]:
    """The producer's liveness window and missed count after one more own slot."""
    window = producer.window + ("1" if missed else "0")
    window_missed = producer.window_missed + (1 if missed else 0)
    if len(window) > window_size:
        if window[0] == "1":
            window_missed -= 1
        window = window[1:]
    return window, window_missed


def is_downtime(state: State, producer: Producer) -> bool:
    """True when a full liveness window holds too many missed slots."""
    params = state.params
    return (
        len(producer.window) >= params.liveness_window
        and producer.window_missed > params.liveness_window - params.min_signed
    )


def process_missed_slot(state: State, name: str, slot: int) -> None:
    """Account one missed own slot of ``name``; jail and slash on downtime."""
    producer = state.producers.rows.get(name)
    if producer is None:
        return
    if producer.jailed:
        state.producers.put(name, producer._replace(missed_total=producer.missed_total + 1))
        return
    window, missed = compute_window_update(producer, True, state.params.liveness_window)
    producer = producer._replace(missed_total=producer.missed_total + 1, window=window, window_missed=missed)
    state.producers.put(name, producer)
    if is_downtime(state, producer):
        params = state.params
        slash_producer(state, name, params.downtime_slash_bps, slot)
        jail_producer(state, name, slot + params.jail_slots)


def process_produced_slot(state: State, name: str, height: int) -> None:
    """Account one produced own slot of ``name`` at ``height``."""
    producer = get_producer(state, name)
    if producer.jailed:
        window, missed = producer.window, producer.window_missed
    else:
        window, missed = compute_window_update(producer, False, state.params.liveness_window)
    state.producers.put(
        name,
        producer._replace(
            produced_total=producer.produced_total + 1,
            window=window,
            window_missed=missed,
            last_produced_height=height,
        ),
    )


def slash_fraction(amount: int, fraction_bps: int) -> int:
    """What ``fraction_bps`` of ``amount`` slashes (rounded down)."""
    return amount * fraction_bps // BPS
