"""Numbers from outside are checked at the pool service's edge (its own API and the DAC's):
a 4xx naming the field, never a 500 (the stores hold signed 64-bit integers)."""

from __future__ import annotations

from typing import Any

import pytest

from producer_client import PoolError
from tests.pool_dac.conftest import DacHarness

pytestmark = pytest.mark.anyio

TOO_BIG = str(2**63)  # one past the largest signed 64-bit integer


async def answer(h: DacHarness, method: str, path: str, **kw: Any) -> tuple[int, dict[str, Any]]:
    client = h.pool.admin
    assert client is not None
    r = await client._http.request(method, path, **kw)
    return r.status_code, r.json()


def assert_names(found: tuple[int, dict[str, Any]], field: str) -> None:
    status, body = found
    assert 400 <= status < 500, found
    assert field in body["error"]["message"], body


@pytest.mark.parametrize(
    ("path", "field"),
    [
        (f"/v1/pool/slots/{TOO_BIG}", "slot"),
        ("/v1/pool/slots/²", "slot"),
        (f"/v1/pool/slots?before_slot={TOO_BIG}", "before_slot"),
        (f"/v1/pool/events?after_id={TOO_BIG}", "after_id"),
        (f"/v1/pool/events?slot={TOO_BIG}", "slot"),
        (f"/v1/pool/events?slot_from={TOO_BIG}", "slot_from"),
        ("/v1/pool/events?slot_to=-1", "slot_to"),
        (f"/v1/pool/evidence?slot={TOO_BIG}", "slot"),
        (f"/v1/dac/proposals/{TOO_BIG}", "proposal_id"),
        (f"/v1/dac/disputes/{TOO_BIG}", "dispute_id"),
        (f"/v1/dac/epochs/{TOO_BIG}", "epoch"),
        (f"/v1/dac/epochs/{TOO_BIG}/statement", "epoch"),
        (f"/v1/dac/epochs/{TOO_BIG}/statement/alice", "epoch"),
    ],
)
async def test_reads_refuse_numbers_out_of_range(dac: DacHarness, path: str, field: str) -> None:
    assert_names(await answer(dac, "GET", path), field)


async def test_unauthenticated_execute_refuses_an_id_out_of_range(dac: DacHarness) -> None:
    assert_names(await answer(dac, "POST", f"/v1/dac/proposals/{TOO_BIG}/execute"), "proposal_id")
    status, _ = await answer(dac, "POST", "/v1/dac/proposals/9223372036854775807/execute")
    assert status == 404


async def test_signed_writes_refuse_ids_out_of_range(dac: DacHarness) -> None:
    for path, field in (
        (f"/v1/dac/proposals/{TOO_BIG}/cancel", "proposal_id"),
        (f"/v1/dac/proposals/{TOO_BIG}/ballots", "proposal_id"),
        (f"/v1/dac/disputes/{TOO_BIG}/ruling", "dispute_id"),
    ):
        with pytest.raises(PoolError) as info:
            await dac.call("alice", "POST", path, {})
        assert 400 <= info.value.status < 500 and field in info.value.message, (path, info.value)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"against": {}, "epoch": 0, "evidence": [1]}, "against"),
        ({"against": [], "epoch": 0, "evidence": [1]}, "against"),
        ({"against": "bob", "epoch": 0, "evidence": [2**63]}, "evidence"),
        ({"against": "bob", "epoch": 0, "evidence": [-1]}, "evidence"),
        ({"against": "bob", "epoch": 0, "evidence": list(range(1, 1000))}, "evidence"),
        ({"against": "bob", "epoch": 2**63, "evidence": [1]}, "epoch"),
    ],
)
async def test_disputes_refuse_bad_values(dac: DacHarness, body: dict[str, Any], field: str) -> None:
    if field == "epoch":  # the evidence must exist for the epoch to be looked at
        events = await dac.get("/v1/pool/events?limit=1")
        body["evidence"] = [events["events"][0]["id"]]
    with pytest.raises(PoolError) as info:
        await dac.call("alice", "POST", "/v1/dac/disputes", body)
    assert 400 <= info.value.status < 500 and field in info.value.message, info.value
