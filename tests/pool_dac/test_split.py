"""The reward split: invariants (hypothesis) and worked examples of each policy."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pool_dac.core.split import MemberMetrics, compute_counted_slots, compute_split, largest_remainder
from pool_dac.core.statement import compute_rows, compute_statement_root
from tests.helpers.split import split_of

names = st.sampled_from([f"m{c}" for c in "abcdefghijklmnop"])
metrics = st.builds(
    lambda name, d, v, w: MemberMetrics(name, d + v, v, min(w, v)),
    names,
    st.integers(0, 50),
    st.integers(0, 100),
    st.integers(0, 100),
)
members = st.lists(metrics, max_size=12, unique_by=lambda m: m.member)
params = st.fixed_dictionaries(
    {
        "earnings": st.integers(0, 10**13),
        "treasury_fee_bps": st.integers(0, 5000),
        "policy": st.sampled_from(["even", "weighted", "hybrid"]),
        "min_participation_bps": st.integers(0, 10_000),
        "hybrid_base_bps": st.integers(0, 10_000),
        "pool_slots": st.integers(0, 120),
    }
)
penalties = st.dictionaries(names, st.integers(0, 10_000), max_size=4)


@given(params, members, penalties)
def test_shares_plus_treasury_equal_earnings_and_none_negative(p, ms, pen) -> None:
    split = compute_split(**p, members=ms, penalties=pen)
    assert split.paid_to_members + split.treasury == p["earnings"]
    assert split.treasury >= 0 and all(s.amount >= 0 for s in split.shares)
    assert {s.member for s in split.shares} == {m.member for m in ms}


@given(params, members, penalties, st.randoms(use_true_random=False))
def test_order_of_members_changes_nothing(p, ms, pen, rnd: random.Random) -> None:
    shuffled = list(ms)
    rnd.shuffle(shuffled)
    a = compute_split(**p, members=ms, penalties=pen)
    b = compute_split(**p, members=shuffled, penalties=pen)
    assert a == b
    assert compute_statement_root(compute_rows(7, a)) == compute_statement_root(compute_rows(7, b))


@given(st.integers(0, 10**9), st.dictionaries(names, st.integers(0, 1000), min_size=1, max_size=10))
def test_largest_remainder_is_exact(total, weights) -> None:
    parts = largest_remainder(total, weights)
    if sum(weights.values()) > 0:
        assert sum(parts.values()) == total
        assert all(parts[m] >= 0 for m in weights)


def test_even_pays_selected_or_not_and_breaks_ties_by_name() -> None:
    ms = [MemberMetrics("ann", 10, 10, 10), MemberMetrics("bob", 10, 10, 0), MemberMetrics("cid", 10, 10, 0)]
    split = split_of(ms, earnings=100, min_participation_bps=5000, pool_slots=12)
    assert [s.amount for s in split.shares] == [34, 33, 33]  # 100 = 3 x 33 + 1: ann first by name


def test_min_participation_and_treasury_fee() -> None:
    ms = [MemberMetrics("ann", 12, 12, 6), MemberMetrics("bob", 5, 5, 0)]
    split = split_of(ms, earnings=1_000, treasury_fee_bps=1000, min_participation_bps=5000, pool_slots=12)
    assert split.treasury == 100
    assert [(s.member, s.eligible, s.amount) for s in split.shares] == [("ann", True, 900), ("bob", False, 0)]


def test_weighted_and_hybrid() -> None:
    ms = [MemberMetrics("ann", 10, 10, 10), MemberMetrics("bob", 10, 10, 0)]  # weights 20 and 10
    weighted = split_of(ms, earnings=300, policy="weighted")
    assert [s.amount for s in weighted.shares] == [200, 100]
    hybrid = split_of(ms, earnings=300, policy="hybrid", hybrid_base_bps=5000)
    assert [s.amount for s in hybrid.shares] == [75 + 100, 75 + 50]


def test_penalty_goes_to_the_treasury_and_nobody_eligible() -> None:
    ms = [MemberMetrics("ann", 10, 10, 5), MemberMetrics("bob", 10, 10, 5)]
    split = split_of(ms, earnings=100, penalties={"bob": 10_000})
    assert [s.amount for s in split.shares] == [50, 0] and split.treasury == 50
    nobody = split_of(
        [MemberMetrics("ann", 1, 1, 0)], earnings=100, treasury_fee_bps=100, min_participation_bps=10_000
    )
    assert nobody.treasury == 100 and nobody.shares[0].amount == 0


@pytest.mark.parametrize(
    ("pool_slots", "openings", "grace", "counted"),
    [
        # no feed opening logged (a log from before the rule): every pool slot counts
        ([1, 2, 3], [], 4, [1, 2, 3]),
        # the slot the feed opened in and the next ``grace`` slots do not count
        (range(0, 10), [0], 4, [5, 6, 7, 8, 9]),
        (range(0, 10), [0], 0, [1, 2, 3, 4, 5, 6, 7, 8, 9]),
        # a restart: slots 8-9 passed while down (no outcome), 10-14 are the grace again
        ([*range(1, 8), *range(10, 19)], [0, 10], 4, [5, 6, 7, 15, 16, 17, 18]),
        # an opening before the epoch still covers the epoch's first slots
        (range(100, 106), [98], 4, [103, 104, 105]),
        # only the latest opening before a slot matters
        (range(20, 24), [2, 21], 1, [20, 23]),
    ],
)
def test_counted_slots_leave_out_the_reconnect_grace(
    pool_slots: list[int], openings: list[int], grace: int, counted: list[int]
) -> None:
    assert compute_counted_slots(pool_slots, openings, grace) == counted
