"""The emitter's domain errors and their HTTP answers: one table, the same statuses and error
bodies the service answered before the errors left HTTP, for the routes and the hot route."""

from __future__ import annotations

import httpx
import orjson
import pytest
from fastapi import FastAPI

from emitter import errors
from emitter.api.errors import error_content, install_emitter_errors, status_for
from emitter.errors import EmitterError
from emitter.intake import rejection
from service_shell.web import ApiError, install_error_handlers

pytestmark = pytest.mark.anyio

# (the domain error, the ApiError the service raised for it before)
CASES: list[tuple[EmitterError, ApiError]] = [
    (errors.Malformed("bad json"), ApiError(400, "malformed", "bad json")),
    *(
        (rejection(v, "why", slot=7), ApiError(status, v, "why", slot=7))
        for v, status in {
            "malformed": 400,
            "wrong_producer": 400,
            "builder_mismatch": 400,
            "wrong_slot": 409,
            "late": 409,
            "duplicate": 409,
            "equivocation": 409,
            "wrong_parent": 409,
            "state_root_mismatch": 400,
            "bad_builder_signature": 400,
            "invalid_transaction": 400,
            "invalid_block": 400,
        }.items()
    ),
    (errors.SlotNotOpen("no pool slot is open"), ApiError(409, "wrong_slot", "no pool slot is open")),
    (errors.UnknownMember("x is not a member"), ApiError(401, "unknown_member", "x is not a member")),
    (errors.MemberNotActive("x is applied"), ApiError(403, "member_not_active", "x is applied")),
    (errors.ApplicationRefused("m", code="wrong_pool"), ApiError(400, "wrong_pool", "m")),
    (errors.ApplicationRefused("m", code="stale_constitution"), ApiError(400, "stale_constitution", "m")),
    (errors.NotAnApplicant("x has not applied"), ApiError(404, "unknown_member", "x has not applied")),
    (errors.InvalidAction("m", code="unknown_action"), ApiError(400, "unknown_action", "m")),
    (errors.InvalidAction("m", code="invalid_parameter"), ApiError(400, "invalid_parameter", "m")),
    (errors.ActionNotAllowed("m", code="admission_by_vote"), ApiError(403, "admission_by_vote", "m")),
    (errors.TransitionRefused("m", code="stale_constitution"), ApiError(409, "stale_constitution", "m")),
    (errors.TransitionRefused("m", code="invalid_transition"), ApiError(409, "invalid_transition", "m")),
    (
        errors.StorageUnavailable("disk full"),
        ApiError(503, "storage_unavailable", "the pool's storage is failing: disk full; retry later"),
    ),
]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.parametrize(("error", "before"), CASES, ids=lambda c: getattr(c, "code", None))
def test_each_error_answers_the_status_and_body_it_had(error: EmitterError, before: ApiError) -> None:
    assert status_for(error) == before.status
    assert error.code == before.code and error.message == before.message
    status, content = error_content(error)
    assert (status, orjson.dumps(content)) == (before.status, orjson.dumps(before.to_dict()))


async def test_a_route_answers_a_domain_error_byte_for_byte_as_it_answered_the_api_error() -> None:
    app = FastAPI()
    install_error_handlers(app)
    install_emitter_errors(app)
    by_path = {f"/{i}": case for i, case in enumerate(CASES)}

    @app.get("/{index}")
    async def fail(index: int, domain: bool = True) -> None:
        error, before = CASES[index]
        raise error if domain else before

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
        for path in by_path:
            new, old = await http.get(path), await http.get(path, params={"domain": "false"})
            assert (new.status_code, new.content) == (old.status_code, old.content)
            assert new.headers == old.headers
