"""Typed errors of the DAC core: each has a stable code and a message naming the check."""

from __future__ import annotations

from typing import ClassVar


class DacError(Exception):
    code: ClassVar[str] = "dac_error"
    status: ClassVar[int] = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotAMember(DacError):
    code = "not_a_member"
    status = 403


class NotEligible(DacError):
    code = "not_eligible"
    status = 403


class BadSignature(DacError):
    code = "bad_signature"


class StaleMessage(DacError):
    code = "stale_message"


class ReplayedMessage(DacError):
    code = "replayed_message"
    status = 409


class VotingClosed(DacError):
    code = "voting_closed"
    status = 409


class InvalidProposal(DacError):
    code = "invalid_proposal"


class NotExecutable(DacError):
    code = "not_executable"
    status = 409


class AlreadyExecuted(DacError):
    code = "already_executed"
    status = 409


class NotArbitrator(DacError):
    code = "not_arbitrator"
    status = 403


class UnknownDispute(DacError):
    code = "unknown_dispute"
    status = 404


class InvalidDispute(DacError):
    code = "invalid_dispute"


class NotCancelable(DacError):
    code = "not_cancelable"
    status = 409
