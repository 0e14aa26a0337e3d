"""process_publish_service and definition parsing."""

from __future__ import annotations

import copy

import pytest

from chain.core import Transaction
from chain.core.errors import MalformedInput
from chain.core.execution_actions import PublishService
from chain.core.execution_records import services
from chain.core.servicetypes import compute_service_id, parse_definition
from tests.helpers.assertions import assert_consistent, rejected_with
from tests.helpers.chain import ChainSim, make_genesis
from tests.helpers.executions import HASHING, MATH, NOTARY, exec_params, include, tx


def test_publish_stores_an_immutable_service_under_its_hash() -> None:
    sim = ChainSim(make_genesis(accounts=("dev",), params=exec_params()))
    include(sim, [tx(sim, "dev", PublishService(HASHING))])
    service_id = compute_service_id(HASHING)
    service = services(sim.state).rows[service_id]
    assert service.developer == "dev" and service.name == "hashing" and service.price == 5_0000
    assert (
        parse_definition(__import__("json").loads(service.definition)).tasks["sha256"].verification
        == "reexecute"
    )
    # The same definition again: refused, whoever sends it
    exc = rejected_with(sim.state, tx(sim, "alpha", PublishService(HASHING)))
    assert exc.code == "execution_rejected" and "immutable" in exc.message
    assert_consistent(sim.state, sim.genesis.initial_supply)


def test_the_id_does_not_depend_on_key_order() -> None:
    shuffled = {"tasks": MATH["tasks"], "price": MATH["price"], "name": MATH["name"]}
    assert compute_service_id(shuffled) == compute_service_id(MATH)
    assert compute_service_id(MATH) != compute_service_id(NOTARY)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(name="Bad Name"), "definition.name"),
        (lambda d: d.update(price=-1), "definition.price"),
        (lambda d: d.update(tasks={}), "non-empty"),
        (lambda d: d["tasks"]["sha256"].update(verification="vote"), "verification"),
        (lambda d: d["tasks"]["sha256"]["inputs"].update(data="float"), "type 'float'"),
        (lambda d: d["tasks"]["sha256"]["inputs"].update({"Bad": "int"}), "not a field name"),
        (lambda d: d["tasks"]["sha256"].update(extra=1), "unknown field"),
        (lambda d: d.update(tasks={f"t{i}": d["tasks"]["sha256"] for i in range(33)}), "more than 32 tasks"),
    ],
)
def test_malformed_definitions_are_refused(change, message: str) -> None:  # type: ignore[no-untyped-def]
    definition = copy.deepcopy(HASHING)
    change(definition)
    with pytest.raises(MalformedInput, match=message):
        parse_definition(definition)


def test_a_malformed_definition_never_reaches_a_block() -> None:
    sim = ChainSim(make_genesis(accounts=("dev",), params=exec_params()))
    wire = copy.deepcopy(tx(sim, "dev", PublishService(HASHING)).to_dict())
    wire["action"]["definition"]["tasks"]["sha256"]["verification"] = "magic"
    with pytest.raises(MalformedInput, match="verification"):
        Transaction.from_dict(wire)
