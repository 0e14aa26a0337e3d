"""The DAC's errors carry a code and a message; the API alone gives them HTTP statuses."""

from __future__ import annotations

import pytest

from pool_dac import api
from pool_dac.core import errors
from pool_dac.core.errors import DacError

# Every error the DAC raises and the status it answers with.
STATUSES = {
    "malformed": 400,
    "not_ready": 503,
    "not_a_member": 403,
    "not_eligible": 403,
    "not_arbitrator": 403,
    "bad_signature": 400,
    "stale_message": 400,
    "replayed_message": 409,
    "invalid_proposal": 400,
    "voting_closed": 409,
    "not_cancelable": 409,
    "not_executable": 409,
    "already_executed": 409,
    "invalid_dispute": 400,
    "unknown_proposal": 404,
    "unknown_dispute": 404,
    "unknown_epoch": 404,
}
ERRORS = [
    e for e in vars(errors).values() if isinstance(e, type) and issubclass(e, DacError) and e is not DacError
]


@pytest.mark.parametrize("error", ERRORS, ids=lambda e: e.__name__)
def test_each_error_has_its_own_code_and_a_status_at_the_edge(error: type[DacError]) -> None:
    exc = error("why")
    assert exc.message == "why" and str(exc) == "why"
    assert not hasattr(exc, "status")
    assert api.STATUS.get(exc.code, 400) == STATUSES[exc.code]


def test_codes_are_unique_and_all_listed() -> None:
    assert sorted(e.code for e in ERRORS) == sorted(STATUSES)
    assert set(api.STATUS) <= set(STATUSES)
