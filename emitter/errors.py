"""The emitter's domain errors: a stable ``code`` and a message naming the failed check.

They say what went wrong, not how HTTP answers it: ``emitter.api.errors`` maps each class to
its status in one table (candidate intake's hot route included). Details a client reads
besides the message (the slot of a rejected candidate) ride along in ``extra``.

They are ``ValueError``s: a caller outside the emitter that takes a refused action as a failed
one (the DAC executing a proposal through ``pool_dac.host.PoolHost``) needs nothing of this
module to see them so.
"""

from __future__ import annotations

from typing import Any


class EmitterError(ValueError):
    """An error of the pool service with a stable code and a human message."""

    code = "emitter_error"

    def __init__(self, message: str, *, code: str | None = None, **extra: Any) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code
        self.message = message
        self.extra = extra

    def to_dict(self) -> dict[str, Any]:
        """The error in the project's JSON error shape."""
        return {"error": {"code": self.code, "message": self.message, **self.extra}}


class Malformed(EmitterError):
    """A body that does not parse as what it must be (a block, an application)."""

    code = "malformed"


class CandidateInvalid(EmitterError):
    """A candidate refused for what it is (wrong producer or builder, an invalid block);
    ``code`` is the verdict."""


class CandidateConflict(EmitterError):
    """A candidate refused for the slot's state (not open, late, duplicate, equivocation, not
    on the slot's parent); ``code`` is the verdict."""


class SlotNotOpen(CandidateConflict):
    """No pool slot is open for the candidate."""

    code = "wrong_slot"


class UnknownMember(EmitterError):
    """A signed request from an account that is not a member of the pool."""

    code = "unknown_member"


class MemberNotActive(EmitterError):
    """A request of a member that may not act (applied, suspended or removed)."""

    code = "member_not_active"


class ApplicationRefused(EmitterError):
    """An application that fails a check (pool, freshness, signature, key, constitution);
    ``code`` names the check."""


class NotAnApplicant(EmitterError):
    """A membership action on an account that never applied."""

    code = "unknown_member"


class InvalidAction(EmitterError):
    """A membership action or a governed parameter that does not exist; ``code`` names it."""


class ActionNotAllowed(EmitterError):
    """A membership action reserved to someone else (admission by a DAC vote)."""


class TransitionRefused(EmitterError):
    """A membership action the member's state does not allow; ``code`` names why."""


class StorageUnavailable(EmitterError):
    """A write failed because of the storage (the service answers ``storage_unavailable``)."""

    code = "storage_unavailable"

    def __init__(self, message: str) -> None:
        super().__init__(f"the pool's storage is failing: {message}; retry later")
