"""Every operation of the node's and the pool service's (with its DAC) OpenAPI, fuzzed with
schemathesis against real processes: no server error, every status and every answer as
documented (schema and content type).

Each operation gets schemathesis' coverage cases (boundary values, missing and wrong-typed
fields, other methods), then ``BPPOOL_FUZZ_EXAMPLES`` random cases of valid input and as many
of invalid input. Every failure is collected, so one run lists them all (per operation, the
first of each kind).
"""

from __future__ import annotations

import contextlib

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.fuzz.conftest import MAX_EXAMPLES, Tally

pytestmark = pytest.mark.e2e

CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance, content_type_conformance]


def fuzz_operation(
    operation: schemathesis.APIOperation,
    mode: GenerationMode,
    session: requests.Session,
    tally: Tally,
    service: str,
    failures: dict[str, str],
) -> None:
    """Up to ``MAX_EXAMPLES`` cases of ``operation`` in ``mode``; failures are kept, not raised."""
    label = operation.label

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: schemathesis.Case) -> None:
        tally.add(service, label)
        try:
            response = case.call(session=session)
            tally.answered(service, label, response.status_code)
            case.validate_response(response, checks=CHECKS)
        except (Exception, FailureGroup) as exc:  # a check's failure: keep the first
            failures.setdefault(f"{label} [{mode.value}]", f"{type(exc).__name__}: {exc}"[:1500])

    with contextlib.suppress(Unsatisfiable):  # nothing to make invalid (no parameters, no body)
        run()


def check_case(
    case: schemathesis.Case,
    session: requests.Session,
    tally: Tally,
    service: str,
    failures: dict[str, str],
    kind: str,
) -> None:
    """Send ``case`` and run the checks; a failure is kept (the first per operation and kind)."""
    label = case.operation.label
    tally.add(service, label)
    try:
        response = case.call(session=session)
        tally.answered(service, label, response.status_code)
        case.validate_response(response, checks=CHECKS)
    except (Exception, FailureGroup) as exc:
        failures.setdefault(f"{label} [{kind}]", f"{type(exc).__name__}: {exc}"[:1500])


def fuzz(schema: schemathesis.BaseSchema, session: requests.Session, tally: Tally, service: str) -> None:
    """Every operation of ``schema``, with valid and with invalid input."""
    failures: dict[str, str] = {}
    modes = [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]
    for result in schema.get_all_operations():
        operation = result.ok()
        for case in schema.iter_coverage_cases(
            operation, generation_modes=modes, generation_config=schema.config.generation
        ):
            check_case(case, session, tally, service, failures, "coverage")
        for mode in modes:
            fuzz_operation(operation, mode, session, tally, service, failures)
    assert not failures, "\n\n".join(f"{where}\n{what}" for where, what in sorted(failures.items()))


def test_node_api(
    node_schema: schemathesis.BaseSchema, signed_session: requests.Session, tally: Tally
) -> None:
    fuzz(node_schema, signed_session, tally, "node")


def test_pool_service_api(
    pool_schema: schemathesis.BaseSchema, signed_session: requests.Session, tally: Tally
) -> None:
    fuzz(pool_schema, signed_session, tally, "pool service")
