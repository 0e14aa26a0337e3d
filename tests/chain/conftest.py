"""Fixtures for the chain core tests."""

from __future__ import annotations

import pytest

from chain.core import ChainParams
from tests.helpers.chain import ChainSim, make_genesis


def small_params(**overrides: int) -> ChainParams:
    """Parameters small enough to exercise windows, jail and unbonding in a few blocks."""
    windows = {"liveness_window": 24, "min_signed_bps": 5_000, "jail_slots": 100}
    values = {**windows, "unbonding_slots": 50, "max_evidence_age_slots": 1_000}
    return ChainParams(**{**values, **overrides})


@pytest.fixture
def sim() -> ChainSim:
    """A three-producer chain at genesis with small windows."""
    return ChainSim(make_genesis(params=small_params()))
