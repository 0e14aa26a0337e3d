"""Proposal states, tallies and every ballot and execution rejection."""

from __future__ import annotations

import pytest

from pool_dac.core import governance
from pool_dac.core.errors import (
    AlreadyExecuted,
    NotCancelable,
    NotExecutable,
    ReplayedMessage,
    StaleMessage,
    VotingClosed,
)
from pool_dac.core.governance import (
    ACTIVE,
    CANCELED,
    DEFEATED,
    EXECUTED,
    EXPIRED,
    PENDING,
    QUEUED,
    SUCCEEDED,
    ProposalClock,
    Tally,
)
from pool_protocol.messages import Ballot

CLOCK = ProposalClock(vote_start_ms=1_000, vote_end_ms=2_000, grace_ms=500)
WIN = Tally(yes=3, no=1, abstain=0, eligible=5)
LOSE = Tally(yes=1, no=3, abstain=0, eligible=5)
NO_QUORUM = Tally(yes=1, no=0, abstain=0, eligible=5)


@pytest.mark.parametrize(
    ("clock", "tally", "now", "state"),
    [
        (CLOCK, WIN, 999, PENDING),
        (CLOCK, WIN, 1_000, ACTIVE),
        (CLOCK, WIN, 1_999, ACTIVE),
        (CLOCK, WIN, 2_000, SUCCEEDED),
        (CLOCK, LOSE, 2_000, DEFEATED),
        (CLOCK, NO_QUORUM, 2_000, DEFEATED),
        (CLOCK, Tally(2, 2, 0, 5), 2_000, DEFEATED),  # yes must exceed the threshold
        (ProposalClock(1_000, 2_000, eta_ms=3_000, grace_ms=500), WIN, 3_200, QUEUED),
        (ProposalClock(1_000, 2_000, eta_ms=3_000, grace_ms=500), WIN, 3_501, EXPIRED),
        (ProposalClock(1_000, 2_000, eta_ms=3_000, executed=True), WIN, 9_999, EXECUTED),
        (ProposalClock(1_000, 2_000, canceled=True), WIN, 1_500, CANCELED),
    ],
)
def test_states(clock, tally, now, state) -> None:
    assert governance.compute_state(clock, tally, now, quorum_bps=3340, threshold_bps=5000) == state


def test_tally_and_abstentions_count_for_quorum_only() -> None:
    tally = governance.compute_tally([("yes", 1), ("abstain", 1), ("no", 0)], eligible_weight=3)
    assert (tally.yes, tally.no, tally.abstain, tally.cast) == (1, 0, 1, 2)
    assert governance.compute_state(CLOCK, tally, 2_000, quorum_bps=6000, threshold_bps=5000) == SUCCEEDED
    assert governance.compute_state(CLOCK, tally, 2_000, quorum_bps=7000, threshold_bps=5000) == DEFEATED


def ballot(ts: int) -> Ballot:
    return Ballot("ab" * 32, "pool", 1, "ann", "yes", ts)


def test_ballot_window() -> None:
    governance.check_ballot_window(ACTIVE, ballot(1_500), now_ms=1_500, vote_start_ms=1_000)
    for state in (PENDING, DEFEATED, SUCCEEDED, QUEUED, EXECUTED, CANCELED):
        with pytest.raises(VotingClosed, match=state):
            governance.check_ballot_window(state, ballot(1_500), now_ms=1_500, vote_start_ms=1_000)
    with pytest.raises(StaleMessage, match="ahead"):
        governance.check_ballot_window(ACTIVE, ballot(1_500 + 300_001), now_ms=1_500, vote_start_ms=1_000)
    with pytest.raises(StaleMessage, match="before the vote"):
        governance.check_ballot_window(ACTIVE, ballot(999), now_ms=1_500, vote_start_ms=1_000)


def test_vote_changes_need_a_newer_ballot() -> None:
    governance.check_replacement(None, ballot(1_200))
    governance.check_replacement(1_100, ballot(1_200))
    with pytest.raises(ReplayedMessage):
        governance.check_replacement(1_200, ballot(1_200))


def test_execution_rules() -> None:
    governance.check_executable(QUEUED, now_ms=3_000, eta_ms=3_000)
    with pytest.raises(NotExecutable, match="timelock"):
        governance.check_executable(QUEUED, now_ms=2_999, eta_ms=3_000)
    with pytest.raises(AlreadyExecuted):
        governance.check_executable(EXECUTED, now_ms=3_000, eta_ms=3_000)
    for state in (PENDING, ACTIVE, DEFEATED, SUCCEEDED, EXPIRED, CANCELED):
        with pytest.raises(NotExecutable):
            governance.check_executable(state, now_ms=3_000, eta_ms=3_000)
    governance.check_cancelable(PENDING)
    governance.check_cancelable(ACTIVE)
    with pytest.raises(NotCancelable):
        governance.check_cancelable(QUEUED)
