"""Every signed endpoint of the pool service (the emitter's and the DAC's), replayed in every
spelling: the exact replay is refused as a replay, every re-spelled header as malformed, and
nothing happens twice.

The endpoints are found from the app's routes (a signature dependency, or a hot route declared
``signed``): a new signed route fails ``test_the_table_covers_every_signed_route`` until it is
added to ``ENDPOINTS`` below, with the request that exercises it and what it changes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
import pytest
from sqlalchemy import select

from emitter import crud as emitter_crud
from emitter.api import deps
from pool_dac import api as dac_api
from pool_dac import crud
from pool_protocol.requests import request_headers
from tests.helpers.chain import key_for
from tests.helpers.signed import check_respellings, send_raw, signed_routes
from tests.pool_dac.conftest import DacHarness

pytestmark = pytest.mark.anyio

SIGNATURE_DEPENDENCIES = frozenset(
    {deps.active_member, deps.any_member, deps.pool_admin, dac_api.signed_member}
)


ARBITRATOR_PROPOSAL = {"kind": "set_parameter", "payload": {"name": "arbitrator", "value": "dave"}}


@dataclass(frozen=True)
class Call:
    """One signed request to make, and a snapshot of what it changes."""

    member: str
    path: str
    body: Any
    effect: Callable[[], Any]
    status: int = 200


Setup = Callable[[DacHarness], Awaitable[Call]]


def _nothing() -> None:
    return None


async def members_me(h: DacHarness) -> Call:
    return Call("alice", "/v1/pool/members/me", None, _nothing)


async def slots_current(h: DacHarness) -> Call:
    return Call("alice", "/v1/pool/slots/current", None, _nothing)


async def slots_stream(h: DacHarness) -> Call:
    return Call("alice", "/v1/pool/slots/stream", None, _nothing)


async def admin_member(h: DacHarness) -> Call:
    engine = h.pool.emitter.engine
    return Call(
        "pool",
        "/v1/pool/admin/members/carol/suspend",
        None,
        lambda: emitter_crud.list_events(engine, kind="member", member="carol"),
    )


async def candidates(h: DacHarness) -> Call:
    await h.pool.open_slot(1)
    engine = h.pool.emitter.engine
    return Call(
        "alice",
        "/v1/pool/candidates",
        h.pool.candidate("alice").to_dict(),
        lambda: emitter_crud.list_events(engine, kind="arrival", slot=1),
    )


async def sign_constitution(h: DacHarness) -> Call:
    engine = h.dac.engine

    def rows() -> list[Any]:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(select(crud.SIGNATURE))]

    return Call("alice", "/v1/dac/constitution/sign", h.constitution_signature("alice"), rows)


async def propose(h: DacHarness) -> Call:
    engine = h.dac.engine
    return Call(
        "alice",
        "/v1/dac/proposals",
        ARBITRATOR_PROPOSAL,
        lambda: crud.list_proposals(engine, limit=1000),
        201,
    )


async def vote(h: DacHarness) -> Call:
    pid = (await h.propose("carol", **ARBITRATOR_PROPOSAL))["id"]
    engine = h.dac.engine
    ballot = h.ballot("bob", pid, "yes")
    path = f"/v1/dac/proposals/{pid}/ballots"
    return Call("bob", path, ballot, lambda: crud.ballots(engine, proposal_id=pid))


async def cancel(h: DacHarness) -> Call:
    pid = (await h.propose("bob", **ARBITRATOR_PROPOSAL))["id"]
    engine = h.dac.engine
    path = f"/v1/dac/proposals/{pid}/cancel"
    return Call("bob", path, None, lambda: crud.get_proposal(engine, proposal_id=pid))


async def dispute(h: DacHarness) -> Call:
    arrivals = emitter_crud.list_events(h.pool.emitter.engine, kind="arrival")
    assert arrivals, "the candidate intake runs first: its arrival is the evidence"
    engine = h.dac.engine
    return Call(
        "bob",
        "/v1/dac/disputes",
        {"against": "alice", "epoch": 0, "evidence": [arrivals[0]["id"]], "description": "replays"},
        lambda: crud.list_disputes(engine),
        201,
    )


# In order: the intake's arrival is the dispute's evidence; the admin suspends carol last.
ENDPOINTS: dict[tuple[str, str], Setup] = {
    ("POST", "/v1/pool/candidates"): candidates,
    ("GET", "/v1/pool/members/me"): members_me,
    ("GET", "/v1/pool/slots/current"): slots_current,
    ("GET", "/v1/pool/slots/stream"): slots_stream,
    ("POST", "/v1/dac/constitution/sign"): sign_constitution,
    ("POST", "/v1/dac/proposals"): propose,
    ("POST", "/v1/dac/proposals/{proposal_id}/ballots"): vote,
    ("POST", "/v1/dac/proposals/{proposal_id}/cancel"): cancel,
    ("POST", "/v1/dac/disputes"): dispute,
    ("POST", "/v1/pool/admin/members/{account}/{action}"): admin_member,
}


async def test_the_table_covers_every_signed_route(dac: DacHarness) -> None:
    assert signed_routes(dac.pool.app, SIGNATURE_DEPENDENCIES) == set(ENDPOINTS)


async def test_every_signed_endpoint_refuses_replays_in_every_spelling(dac: DacHarness) -> None:
    url = dac.pool.emitter_url
    for (method, template), setup in ENDPOINTS.items():
        call = await setup(dac)
        body = orjson.dumps(call.body) if call.body is not None else b""
        dac.clock.set(dac.clock.now_ms() + 1)  # a request of its own
        headers = request_headers(
            key_for(call.member),
            call.member,
            chain_id=dac.dac.host.chain_id,
            pool="pool",
            method=method,
            path=call.path,
            timestamp=dac.clock.now_ms(),
            body=body,
        )
        status, answer = await send_raw(url, method, call.path, headers, body)
        assert status == call.status, f"{method} {template}: {answer}"
        await check_respellings(url, method, call.path, headers, body, call.effect)
    # one proposal from the proposals endpoint, next to the two the ballot and cancel set up
    assert len(crud.list_proposals(dac.dac.engine, limit=1000)) == 3
    assert len(crud.list_disputes(dac.dac.engine)) == 1
    metrics = (await dac.pool.admin._http.get("/metrics")).text  # type: ignore[union-attr]
    assert 'bppool_emitter_requests_rejected_total{reason="malformed_header"}' in metrics
