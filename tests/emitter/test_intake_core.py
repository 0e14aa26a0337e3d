"""The intake's pure checks (``emitter.core.intake``): each check's verdict and message, in
order, and the verdict of each validation failure."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from chain.core import build_block
from chain.core.errors import (
    BadBuilderSignature,
    InvalidTransaction,
    StateRootMismatch,
    TxRootMismatch,
    WrongParent,
)
from emitter.core.intake import compute_precheck, is_conflict, verdict_for
from tests.helpers.chain import ChainSim, make_genesis

SLOT_START = 1_000


@dataclass
class Delivered:
    block_id: str
    prev_id: str = ""


@dataclass
class Run:
    slot: int = 1
    start_ms: int = SLOT_START
    cutoff_at_ms: int = SLOT_START + 400
    prev_id: str = ""
    closed: bool = False
    by_member: dict[str, Delivered] = field(default_factory=dict)


def check(header, *, member="alice", run=None, arrival_ms=SLOT_START + 10, closed_through=0, block_id="b1"):  # type: ignore[no-untyped-def]
    return compute_precheck(
        member=member,
        header=header,
        block_id=block_id,
        pool="pool",
        run=run,
        arrival_ms=arrival_ms,
        closed_through=closed_through,
        cutoff_ms=400,
    )


@pytest.fixture
def header():  # type: ignore[no-untyped-def]
    state = ChainSim(make_genesis(producers=("pool",), accounts=("alice",))).state
    return build_block(state, slot=1, producer="pool", builder="alice").block.header


def test_a_candidate_passing_every_check(header) -> None:  # type: ignore[no-untyped-def]
    assert check(header, run=Run(prev_id=header.prev_id)) == (None, "")


def test_a_block_on_the_new_parent_after_a_reopen_replaces_the_members_first(header) -> None:  # type: ignore[no-untyped-def]
    """The slot re-opened on a new parent: the member's block built on the old one is no
    equivocation of its rebuilt block (nor evidence against it); a second block on the same
    parent still is."""
    before = Delivered("b0", prev_id="the-old-parent")
    assert check(header, run=Run(prev_id=header.prev_id, by_member={"alice": before})) == (None, "")
    again = Delivered("b0", prev_id=header.prev_id)
    assert check(header, run=Run(prev_id=header.prev_id, by_member={"alice": again}))[0] == "equivocation"


@pytest.mark.parametrize(
    ("setup", "verdict"),
    [
        ({"member": "bob"}, "builder_mismatch"),
        ({"run": None}, "wrong_slot"),
        ({"run": None, "closed_through": 1}, "late"),
        ({"run": Run(slot=2)}, "wrong_slot"),
        ({"arrival_ms": SLOT_START + 401}, "late"),
        ({"run": Run(closed=True)}, "late"),
        ({"run": Run(by_member={"alice": Delivered("b1")})}, "duplicate"),
        ({"run": Run(by_member={"alice": Delivered("b0")})}, "equivocation"),
        ({"run": Run(prev_id="elsewhere")}, "wrong_parent"),
    ],
)
def test_each_check_names_its_verdict(header, setup, verdict) -> None:  # type: ignore[no-untyped-def]
    args = {"run": Run(prev_id=header.prev_id), **setup}
    found, reason = check(header, **args)
    assert found == verdict and reason
    assert is_conflict(found) == (verdict not in ("builder_mismatch", "wrong_producer"))


def test_the_producer_is_checked_first(header) -> None:  # type: ignore[no-untyped-def]
    from dataclasses import replace

    other = replace(header, producer="carol")
    assert check(other, member="bob", run=None)[0] == "wrong_producer"


@pytest.mark.parametrize(
    ("exc", "verdict"),
    [
        (StateRootMismatch("x"), "state_root_mismatch"),
        (BadBuilderSignature("x"), "bad_builder_signature"),
        (WrongParent("x"), "wrong_parent"),
        (TxRootMismatch("x"), TxRootMismatch("x").code),
    ],
)
def test_verdict_for_a_validation_failure(exc, verdict) -> None:  # type: ignore[no-untyped-def]
    assert verdict_for(exc) == verdict


def test_every_invalid_transaction_is_one_verdict() -> None:
    kinds: list[type[InvalidTransaction]] = [InvalidTransaction, *InvalidTransaction.__subclasses__()]
    for kind in kinds:
        assert verdict_for(kind("x")) == "invalid_transaction"
