"""The DAC's host is built once when the DAC is installed, frozen, and reads the pool
service's live state."""

from __future__ import annotations

import dataclasses

import pytest

from pool_dac.host import PoolHost
from tests.pool_dac.conftest import DacHarness

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_the_host_is_frozen_and_live(dac: DacHarness) -> None:
    host, emitter = dac.dac.host, dac.pool.emitter
    assert isinstance(host, PoolHost) and host.service is emitter
    with pytest.raises(dataclasses.FrozenInstanceError):
        host.pool = "other"  # type: ignore[misc]
    # the DAC is attached to the service's extension points, once
    assert emitter.extensions == [dac.dac] and emitter.admission_by_vote
    # live state: the members as the service holds them now, after a reload
    await dac.pool.members["dave"].apply()
    assert host.members is emitter.members and host.members["dave"]["status"] == "applied"
    assert host.constitution_hash == emitter.constitution_hash
