"""The per-epoch reward split (pure, integer, deterministic).

Inputs: the pool's earnings in the epoch (block rewards plus fees of its blocks), the
treasury fee, the policy, each member's metrics from the event log, and penalties from
rulings. Output: each member's amount and the treasury's.

Rules (published with every statement):

1. ``treasury = earnings * treasury_fee_bps // 10000``; the members' part is the rest.
2. A member is *eligible* when active (admitted and signed the latest constitution) and its
   participation ``valid deliveries / counted pool slots`` (at most 100 %) reaches
   ``min_participation_bps``. The counted pool slots are those members could deliver in
   (:func:`compute_counted_slots`): the pool's own outages never count against them.
3. ``even``: the members' part in equal shares to the eligible members — selected or not.
   ``weighted``: in proportion to ``valid deliveries + wins`` (a win counts twice: it is also
   a valid delivery). ``hybrid``: ``hybrid_base_bps`` of it even, the rest weighted.
4. Every division is integer; the units left over go one each to the members with the
   largest remainders; equal remainders are broken by account name, ascending.
5. A penalty (from a ruling) takes ``penalty_bps`` of a member's amount (rounded down; a
   forfeit is 10000); what it takes goes to the treasury.
6. With no eligible member, the members' part goes to the treasury.

Invariant (tested with hypothesis): the amounts plus the treasury equal the earnings, no
amount is negative, and the result does not depend on the order of the members.

Spec: ``docs/dac.md`` and the ``dac/split`` vectors (``docs/spec/vectors.md``).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

BPS = 10_000


@dataclass(frozen=True)
class MemberMetrics:
    """What the event log says of one member in one epoch."""

    member: str
    deliveries: int = 0
    valid: int = 0
    wins: int = 0


@dataclass(frozen=True)
class Share:
    member: str
    deliveries: int
    valid: int
    wins: int
    participation_bps: int
    eligible: bool
    weight: int
    penalty_bps: int
    amount: int


@dataclass(frozen=True)
class Split:
    earnings: int
    treasury: int
    shares: tuple[Share, ...]

    @property
    def paid_to_members(self) -> int:
        return sum(s.amount for s in self.shares)


def compute_weight(metrics: MemberMetrics) -> int:
    """The weighted policy's weight: valid deliveries plus wins."""
    return metrics.valid + metrics.wins


def compute_counted_slots(
    pool_slots: Iterable[int], feed_openings: Iterable[int], grace_slots: int
) -> list[int]:
    """The pool slots that count for participation, in order.

    ``pool_slots`` are the slots the pool service ran (a ``slot`` outcome in its event log; a
    slot that passed while the service was down has none), ``feed_openings`` the slots in
    which its slot feed opened (a ``service`` ``feed_open`` event at each start). A pool slot
    ``s`` counts unless the latest feed opening ``f <= s`` is at most ``grace_slots`` before it
    (``s - f <= grace_slots``): the slot in which the feed opened and the ``grace_slots``
    slots after it are the members' time to reconnect.
    """
    openings = sorted(set(feed_openings))
    counted = []
    for slot in sorted(set(pool_slots)):
        latest = bisect_right(openings, slot)
        if latest == 0 or slot - openings[latest - 1] > grace_slots:
            counted.append(slot)
    return counted


def largest_remainder(total: int, weights: Mapping[str, int]) -> dict[str, int]:
    """Split ``total`` units in proportion to ``weights`` (integers); leftover units go to
    the largest remainders, ties to the smaller account name."""
    weight_sum = sum(weights.values())
    if total <= 0 or weight_sum <= 0:
        return dict.fromkeys(weights, 0)
    floors = {m: total * w // weight_sum for m, w in weights.items()}
    remainders = {m: total * w % weight_sum for m, w in weights.items()}
    leftover = total - sum(floors.values())
    for member in sorted(weights, key=lambda m: (-remainders[m], m))[:leftover]:
        floors[member] += 1
    return floors


def compute_participation_bps(metrics: MemberMetrics, pool_slots: int) -> int:
    """Valid deliveries / counted pool slots, in basis points, at most 100 %."""
    return min(BPS, metrics.valid * BPS // pool_slots) if pool_slots > 0 else 0


def compute_member_amounts(
    distributable: int, weights: Mapping[str, int], policy: str, hybrid_base_bps: int
) -> dict[str, int]:
    """The members' part split among the eligible members (``weights``) by ``policy``."""
    if policy == "even":
        base, bonus = distributable, 0
    elif policy == "weighted":
        base, bonus = 0, distributable
    else:
        base = distributable * hybrid_base_bps // BPS
        bonus = distributable - base
    if bonus and sum(weights.values()) == 0:
        base, bonus = base + bonus, 0  # nobody has weight: the bonus goes evenly too
    amounts = largest_remainder(base, dict.fromkeys(weights, 1))
    for name, amount in largest_remainder(bonus, weights).items():
        amounts[name] += amount
    return amounts


def compute_split(
    *,
    earnings: int,
    treasury_fee_bps: int,
    policy: str,
    min_participation_bps: int,
    hybrid_base_bps: int,
    pool_slots: int,
    members: Iterable[MemberMetrics],
    penalties: Mapping[str, int] | None = None,
) -> Split:
    """Split one epoch's earnings (see the module's rules); ``pool_slots`` is the number of
    counted pool slots (:func:`compute_counted_slots`), the denominator of participation."""
    if earnings < 0:
        raise ValueError("earnings cannot be negative")
    if policy not in ("even", "weighted", "hybrid"):
        raise ValueError(f"unknown reward policy {policy!r}")
    penalties = penalties or {}
    by_name = {m.member: m for m in members}
    ordered = [by_name[name] for name in sorted(by_name)]
    treasury = earnings * treasury_fee_bps // BPS
    distributable = earnings - treasury
    eligible = [
        m
        for m in ordered
        if compute_participation_bps(m, pool_slots) >= min_participation_bps and pool_slots > 0
    ]
    weights = {m.member: compute_weight(m) for m in eligible}
    amounts = dict.fromkeys((m.member for m in ordered), 0)
    if eligible:
        amounts.update(compute_member_amounts(distributable, weights, policy, hybrid_base_bps))
    else:
        treasury += distributable
    shares = []
    for m in ordered:
        penalty = max(0, min(BPS, penalties.get(m.member, 0)))
        cut = amounts[m.member] * penalty // BPS
        treasury += cut
        shares.append(
            Share(
                member=m.member,
                deliveries=m.deliveries,
                valid=m.valid,
                wins=m.wins,
                participation_bps=compute_participation_bps(m, pool_slots),
                eligible=m.member in weights,
                weight=weights.get(m.member, 0),
                penalty_bps=penalty,
                amount=amounts[m.member] - cut,
            )
        )
    return Split(earnings=earnings, treasury=treasury, shares=tuple(shares))
