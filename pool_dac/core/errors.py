"""Typed errors of the DAC: each has a stable code and a message naming the failed check.

Nothing here knows about HTTP: :mod:`pool_dac.api` maps the codes to statuses at the edge.
"""

from __future__ import annotations

from typing import Any, ClassVar


class DacError(Exception):
    """A refused DAC operation; subclasses declare their code: ``class X(DacError, code="x")``."""

    code: ClassVar[str] = "dac_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __init_subclass__(cls, code: str = "", **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if code:
            cls.code = code


# The request
class Malformed(DacError, code="malformed"): ...


class NotReady(DacError, code="not_ready"): ...


# Who may act
class NotAMember(DacError, code="not_a_member"): ...


class NotEligible(DacError, code="not_eligible"): ...


class NotArbitrator(DacError, code="not_arbitrator"): ...


# Signed documents
class BadSignature(DacError, code="bad_signature"): ...


class StaleMessage(DacError, code="stale_message"): ...


class ReplayedMessage(DacError, code="replayed_message"): ...


# Proposals and disputes
class InvalidProposal(DacError, code="invalid_proposal"): ...


class VotingClosed(DacError, code="voting_closed"): ...


class NotCancelable(DacError, code="not_cancelable"): ...


class NotExecutable(DacError, code="not_executable"): ...


class AlreadyExecuted(DacError, code="already_executed"): ...


class InvalidDispute(DacError, code="invalid_dispute"): ...


# Lookups
class UnknownProposal(DacError, code="unknown_proposal"): ...


class UnknownDispute(DacError, code="unknown_dispute"): ...


class UnknownEpoch(DacError, code="unknown_epoch"): ...
