"""Strategy functions, table-driven: ties, all-invalid, late arrivals, turn and grace."""

from __future__ import annotations

import pytest

from emitter.core import Arrival, Decision, SlotView, best_fees, compute_turn, fair_rotation, first_delivered

MEMBERS = ("ann", "bea", "cid")


def view(offset: int = 50, slot: int = 10, members: tuple[str, ...] = MEMBERS) -> SlotView:
    return SlotView(slot=slot, now_offset_ms=offset, cutoff_ms=400, grace_ms=150, members=members)


def a(seq: int, member: str, valid: bool | None, fees: int = 0, offset: int = 10) -> Arrival:
    return Arrival(
        seq=seq, member=member, block_id=f"{member}-{seq}", offset_ms=offset, valid=valid, fees=fees
    )


FIRST_DELIVERED = [
    ("nothing yet", [], view(), Decision("wait")),
    ("nothing by the cutoff", [], view(400), Decision("fallback")),
    ("first valid wins", [a(1, "ann", True), a(2, "bea", True)], view(), Decision("emit", "ann-1")),
    (
        "earlier invalid is skipped",
        [a(1, "ann", False), a(2, "bea", True)],
        view(),
        Decision("emit", "bea-2"),
    ),
    ("validate in arrival order", [a(1, "ann", None), a(2, "bea", True)], view(), Decision("wait")),
    ("all invalid before cutoff", [a(1, "ann", False), a(2, "bea", False)], view(), Decision("wait")),
    ("all invalid at cutoff", [a(1, "ann", False), a(2, "bea", False)], view(401), Decision("fallback")),
    (
        "order is by seq not list order",
        [a(2, "bea", True), a(1, "ann", True)],
        view(),
        Decision("emit", "ann-1"),
    ),
    (
        "valid after the cutoff still emits",
        [a(1, "cid", True, offset=399)],
        view(450),
        Decision("emit", "cid-1"),
    ),
]

BEST_FEES = [
    ("waits for the cutoff", [a(1, "ann", True, 5)], view(), Decision("wait")),
    (
        "highest fees at the cutoff",
        [a(1, "ann", True, 5), a(2, "bea", True, 9)],
        view(400),
        Decision("emit", "bea-2"),
    ),
    (
        "tie: earliest wins",
        [a(1, "ann", True, 9), a(2, "bea", True, 9)],
        view(400),
        Decision("emit", "ann-1"),
    ),
    ("invalid ignored", [a(1, "ann", False, 99), a(2, "bea", True, 1)], view(400), Decision("emit", "bea-2")),
    ("all invalid", [a(1, "ann", False, 9), a(2, "bea", False, 9)], view(400), Decision("fallback")),
    ("nothing", [], view(400), Decision("fallback")),
    (
        "everyone delivered: no need to wait",
        [a(1, "ann", True, 1), a(2, "bea", True, 3), a(3, "cid", False, 7)],
        view(100),
        Decision("emit", "bea-2"),
    ),
    ("pending validation", [a(1, "ann", True, 1), a(2, "bea", None, 3)], view(400), Decision("wait")),
]

FAIR_ROTATION = [
    # slot 10 % 3 == 1 -> "bea"
    (
        "turn member wins over earlier",
        [a(1, "ann", True), a(2, "bea", True)],
        view(),
        Decision("emit", "bea-2"),
    ),
    ("waits for turn member in grace", [a(1, "ann", True)], view(100), Decision("wait")),
    ("after grace: first valid", [a(1, "ann", True)], view(150), Decision("emit", "ann-1")),
    (
        "turn member invalid: first valid at once",
        [a(1, "ann", True), a(2, "bea", False)],
        view(60),
        Decision("emit", "ann-1"),
    ),
    ("turn member not validated yet", [a(1, "bea", None), a(2, "ann", True)], view(), Decision("wait")),
    ("nobody by cutoff", [], view(400), Decision("fallback")),
    ("no members: first delivered", [a(1, "ann", True)], view(10, members=()), Decision("emit", "ann-1")),
]


def check(strategy, arrivals, slot_view, expected: Decision) -> None:
    decision = strategy(arrivals, slot_view)
    assert (decision.action, decision.block_id) == (expected.action, expected.block_id), decision.reason
    assert decision.reason


@pytest.mark.parametrize(
    ("case", "arrivals", "slot_view", "expected"), FIRST_DELIVERED, ids=[c[0] for c in FIRST_DELIVERED]
)
def test_first_delivered(case, arrivals, slot_view, expected) -> None:
    check(first_delivered, arrivals, slot_view, expected)


@pytest.mark.parametrize(
    ("case", "arrivals", "slot_view", "expected"), BEST_FEES, ids=[c[0] for c in BEST_FEES]
)
def test_best_fees(case, arrivals, slot_view, expected) -> None:
    check(best_fees, arrivals, slot_view, expected)


@pytest.mark.parametrize(
    ("case", "arrivals", "slot_view", "expected"), FAIR_ROTATION, ids=[c[0] for c in FAIR_ROTATION]
)
def test_fair_rotation(case, arrivals, slot_view, expected) -> None:
    check(fair_rotation, arrivals, slot_view, expected)


def test_turn_rotates_over_sorted_members() -> None:
    assert [compute_turn(s, ("cid", "ann", "bea")) for s in range(4)] == ["ann", "bea", "cid", "ann"]
    assert compute_turn(5, ()) is None
