"""What a test needs from the machine: a missing tool or service skips it, except in CI."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def unavailable(message: str) -> NoReturn:
    """Skip the test for want of what ``message`` names; under CI=true, which provides it
    all, fail instead."""
    if os.environ.get("CI") == "true":
        pytest.fail(message + " (CI=true requires it)")
    pytest.skip(message)
