"""Proposal states (the OpenZeppelin Governor's), tallies and ballot checks (pure).

States: ``Pending`` (before the vote starts) -> ``Active`` (voting) -> ``Defeated`` (no quorum,
or not enough yes) | ``Succeeded`` -> ``Queued`` (waiting out the timelock) -> ``Executed``, or
``Expired`` when not executed within the grace period; ``Canceled`` by the proposer before the
vote ends. Arbitration rulings skip the vote: they are created ``Queued``.

Quorum: the weight that voted (yes, no and abstain) reaches ``quorum_bps`` of the eligible
weight. Success: ``yes / (yes + no)`` exceeds ``threshold_bps`` (abstentions count for the
quorum only).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from pool_protocol.messages import MAX_FUTURE_MS, Ballot

from .errors import AlreadyExecuted, NotCancelable, NotExecutable, ReplayedMessage, StaleMessage, VotingClosed

BPS = 10_000
PENDING, ACTIVE, CANCELED, DEFEATED, SUCCEEDED, QUEUED, EXPIRED, EXECUTED = (
    "Pending",
    "Active",
    "Canceled",
    "Defeated",
    "Succeeded",
    "Queued",
    "Expired",
    "Executed",
)
STATES = (PENDING, ACTIVE, CANCELED, DEFEATED, SUCCEEDED, QUEUED, EXPIRED, EXECUTED)
# Stored, a final state stays: the outcome does not change when the membership changes later
FINAL_STATES = (DEFEATED, EXECUTED, CANCELED, EXPIRED)
OPEN_STATES = (PENDING, ACTIVE, SUCCEEDED, QUEUED)


@dataclass(frozen=True)
class ProposalClock:
    """What decides a proposal's state besides its votes."""

    vote_start_ms: int
    vote_end_ms: int
    eta_ms: int | None = None
    grace_ms: int = 14 * 86_400_000
    canceled: bool = False
    executed: bool = False


@dataclass(frozen=True)
class Tally:
    yes: int
    no: int
    abstain: int
    eligible: int

    @property
    def cast(self) -> int:
        return self.yes + self.no + self.abstain


def compute_tally(ballots: Iterable[tuple[str, int]], eligible_weight: int) -> Tally:
    """Sum ``(choice, weight)`` pairs."""
    yes = no = abstain = 0
    for choice, weight in ballots:
        if choice == "yes":
            yes += weight
        elif choice == "no":
            no += weight
        else:
            abstain += weight
    return Tally(yes, no, abstain, eligible_weight)


def is_quorum_reached(tally: Tally, quorum_bps: int) -> bool:
    return tally.eligible > 0 and tally.cast * BPS >= quorum_bps * tally.eligible


def is_vote_succeeded(tally: Tally, threshold_bps: int) -> bool:
    return tally.yes > 0 and tally.yes * BPS > threshold_bps * (tally.yes + tally.no)


def compute_state(
    clock: ProposalClock, tally: Tally, now_ms: int, *, quorum_bps: int, threshold_bps: int
) -> str:
    """The state of a proposal at ``now_ms``."""
    if clock.executed:
        return EXECUTED
    if clock.canceled:
        return CANCELED
    if clock.eta_ms is not None:
        return EXPIRED if now_ms > clock.eta_ms + clock.grace_ms else QUEUED
    if now_ms < clock.vote_start_ms:
        return PENDING
    if now_ms < clock.vote_end_ms:
        return ACTIVE
    if is_quorum_reached(tally, quorum_bps) and is_vote_succeeded(tally, threshold_bps):
        return SUCCEEDED
    return DEFEATED


def check_ballot_window(state: str, ballot: Ballot, now_ms: int, vote_start_ms: int) -> None:
    """Raise unless ``ballot`` may be counted now."""
    # Verify the proposal is open for votes
    if state != ACTIVE:
        raise VotingClosed(f"proposal {ballot.proposal_id} is {state}; ballots are taken while Active")
    # Verify the ballot is not from the future nor from before the vote
    if ballot.timestamp > now_ms + MAX_FUTURE_MS:
        raise StaleMessage("ballot timestamp is more than 300 s ahead")
    if ballot.timestamp < vote_start_ms:
        raise StaleMessage("ballot timestamp is before the vote started")


def check_replacement(previous_timestamp: int | None, ballot: Ballot) -> None:
    """A member may change its vote while Active: a newer ballot replaces the older one."""
    if previous_timestamp is not None and ballot.timestamp <= previous_timestamp:
        raise ReplayedMessage("a ballot at this or a later timestamp was already counted")


def check_executable(state: str, now_ms: int, eta_ms: int | None) -> None:
    """Raise unless a proposal can be executed now."""
    if state == EXECUTED:
        raise AlreadyExecuted("the proposal was already executed")
    if state != QUEUED or eta_ms is None:
        raise NotExecutable(f"the proposal is {state}; only Queued proposals execute")
    if now_ms < eta_ms:
        raise NotExecutable(f"the timelock ends in {(eta_ms - now_ms) // 1000} s")


def check_cancelable(state: str) -> None:
    if state not in (PENDING, ACTIVE):
        raise NotCancelable(f"the proposal is {state}; only Pending or Active proposals can be canceled")
