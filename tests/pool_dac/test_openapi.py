"""The pool service's OpenAPI (with the DAC) declares every body and answer; a wrong method
is a 405 with ``Allow``."""

from __future__ import annotations

import pytest

from tests.helpers.openapi import assert_documented
from tests.pool_dac.conftest import DacHarness

pytestmark = pytest.mark.anyio

SIGNED = {
    "GET /v1/pool/members/me",
    "POST /v1/pool/admin/members/{account}/{action}",
    "GET /v1/pool/slots/stream",
    "GET /v1/pool/slots/current",
    "POST /v1/pool/candidates",
    "POST /v1/dac/constitution/sign",
    "POST /v1/dac/proposals",
    "POST /v1/dac/proposals/{proposal_id}/ballots",
    "POST /v1/dac/proposals/{proposal_id}/cancel",
    "POST /v1/dac/disputes",
}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_every_operation_is_documented(dac: DacHarness) -> None:
    spec = await dac.get("/openapi.json")
    assert_documented(
        spec, signed=SIGNED, sse={"GET /v1/pool/slots/stream": {"hello", "slot_open", "slot_closed"}}
    )
    intake = spec["paths"]["/v1/pool/candidates"]["post"]
    assert intake["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Block"
    }
    ballot = spec["components"]["schemas"]["Ballot"]
    assert ballot["properties"]["choice"]["enum"] == ["yes", "no", "abstain"]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_wrong_method_answers_405_with_allow(dac: DacHarness) -> None:
    client = dac.pool.admin
    assert client is not None
    r = await client._http.delete("/v1/dac/proposals")
    assert r.status_code == 405 and r.headers["allow"] == "GET, POST"
    r = await client._http.get("/v1/pool/candidates")
    assert r.status_code == 405 and r.headers["allow"] == "POST"
