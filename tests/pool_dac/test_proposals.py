"""The proposal kind table (pool_dac.core.proposals): each kind parses, checks and applies;
a bad payload names the field; stored payloads read back to the same JSON."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, get_args

import orjson
import pytest

from pool_dac import cli, schemas
from pool_dac.core.errors import InvalidProposal
from pool_dac.core.proposals import (
    KINDS,
    PROPOSABLE,
    AdmitMember,
    ConstitutionAmendment,
    ParameterChange,
    RemoveMember,
    RulingExecution,
    TreasurySpend,
    apply_payload,
    compute_penalty_epoch,
    load_payload,
    parse_payload,
)
from pool_protocol.messages import Ruling
from tests.helpers.chain import key_for

TEXT_HASH = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"  # sha256("hello")


@dataclass
class Pool:
    """A pool's state for the checks, and a recorder of the effects."""

    statuses: dict[str, str] = field(default_factory=lambda: {"dave": "applied", "bob": "active"})
    accounts: set[str] = field(default_factory=lambda: {"dave", "bob"})
    balance: int = 1_000
    last_closed: int | None = None
    done: list[tuple[Any, ...]] = field(default_factory=list)

    def member_status(self, account: str) -> str | None:
        return self.statuses.get(account)

    def is_chain_account(self, account: str) -> bool:
        return account in self.accounts

    def treasury_balance(self) -> int:
        return self.balance

    def set_member_status(self, account: str, action: str) -> str:
        self.done.append(("status", account, action))
        return {"admit": "active", "remove": "removed"}[action]

    def set_parameter(self, name: str, value: int | str) -> None:
        self.done.append(("parameter", name, value))

    def adopt_constitution(self, text: str, digest: str) -> int:
        self.done.append(("constitution", text, digest))
        return 2

    def sign_spend(self, to: str, amount: int, memo: str) -> None:
        self.done.append(("spend", to, amount, memo))

    def last_closed_epoch(self) -> int | None:
        return self.last_closed

    def set_penalty(self, epoch: int, member: str, penalty_bps: int) -> None:
        self.done.append(("penalty", epoch, member, penalty_bps))


# kind, wire payload, typed payload, stored JSON, effects, result
VALID = [
    (
        "admit_member",
        {"account": "dave"},
        AdmitMember("dave"),
        {"account": "dave"},
        [("status", "dave", "admit")],
        "dave is active",
    ),
    (
        "remove_member",
        {"account": "bob"},
        RemoveMember("bob"),
        {"account": "bob"},
        [("status", "bob", "remove")],
        "bob is removed",
    ),
    (
        "set_parameter",
        {"name": "treasury_fee_bps", "value": "700"},
        ParameterChange("treasury_fee_bps", 700),
        {"name": "treasury_fee_bps", "value": 700},
        [("parameter", "treasury_fee_bps", 700)],
        "treasury_fee_bps = 700",
    ),
    (
        "amend_constitution",
        {"text": "hello"},
        ConstitutionAmendment("hello", TEXT_HASH),
        {"text": "hello", "hash": TEXT_HASH},
        [("constitution", "hello", TEXT_HASH)],
        f"constitution version 2 adopted; members must sign hash {TEXT_HASH}",
    ),
    (
        "treasury_spend",
        {"to": "dave", "amount": 250, "memo": "m" * 300},
        TreasurySpend("dave", 250, "m" * 200),
        {"to": "dave", "amount": 250, "memo": "m" * 200},
        [("spend", "dave", 250, "m" * 200)],
        "250 to dave signed for sending",
    ),
    (
        "treasury_spend",
        {"to": "dave", "amount": 1},
        TreasurySpend("dave", 1, ""),
        {"to": "dave", "amount": 1, "memo": ""},
        [("spend", "dave", 1, "")],
        "1 to dave signed for sending",
    ),
]


@pytest.mark.parametrize(("kind", "wire", "typed", "stored", "effects", "result"), VALID)
def test_each_kind_parses_checks_and_applies(
    kind: str,
    wire: dict[str, Any],
    typed: Any,
    stored: dict[str, Any],
    effects: list[tuple[Any, ...]],
    result: str,
) -> None:
    pool = Pool()
    payload = parse_payload(kind, wire, pool)
    assert payload == typed and isinstance(payload, KINDS[kind].payload)
    # The stored JSON keeps its field order; it reads back to the same payload
    assert orjson.dumps(payload.to_wire()) == orjson.dumps(stored)
    assert load_payload(kind, orjson.loads(orjson.dumps(stored))) == payload
    assert apply_payload(kind, payload, pool) == result
    assert pool.done == effects


@pytest.mark.parametrize(
    ("kind", "wire", "names"),
    [
        ("admit_member", {"account": "Not Valid"}, "account"),
        ("admit_member", {"account": "dave", "extra": 1}, "account"),
        ("remove_member", {}, "account"),
        ("set_parameter", {"name": "treasury_fee_bps"}, "value"),
        ("set_parameter", {"name": "treasury_fee_bps", "value": 9000}, "treasury_fee_bps"),
        ("set_parameter", {"name": "nonsense", "value": 1}, "nonsense"),
        ("set_parameter", {"name": "strategy", "value": "fastest"}, "strategy"),
        ("amend_constitution", {"text": "  "}, "text"),
        ("amend_constitution", {"text": 5}, "text"),
        ("amend_constitution", {"text": "x" * (64 * 1024 + 1)}, "text"),
        ("treasury_spend", {"to": "Not Valid", "amount": 1}, "to"),
        ("treasury_spend", {"to": "dave", "amount": 1, "why": ""}, "to, amount, memo"),
        ("treasury_spend", {"to": "dave", "amount": 0}, "amount"),
        ("treasury_spend", {"to": "dave", "amount": "1"}, "amount"),
    ],
)
def test_a_bad_payload_names_the_field(kind: str, wire: dict[str, Any], names: str) -> None:
    with pytest.raises(InvalidProposal) as info:
        parse_payload(kind, wire, Pool())
    assert names in info.value.message and info.value.code == "invalid_proposal"


@pytest.mark.parametrize(
    ("kind", "wire", "message"),
    [
        ("admit_member", {"account": "bob"}, "bob has not applied (status active)"),
        ("admit_member", {"account": "erin"}, "erin has not applied (status None)"),
        ("remove_member", {"account": "dave"}, "dave is not a member (status applied)"),
        ("treasury_spend", {"to": "erin", "amount": 1}, "erin does not exist on the chain"),
        ("treasury_spend", {"to": "dave", "amount": 1001}, "the treasury holds 1000, less than 1001"),
    ],
)
def test_checks_against_the_pool(kind: str, wire: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidProposal) as info:
        parse_payload(kind, wire, Pool())
    assert info.value.message == message


@pytest.mark.parametrize(
    ("kind", "payload", "message"),
    [
        ("admit_member", [], "payload must be an object"),
        ("nonsense", [], "payload must be an object"),
        (
            "nonsense",
            {},
            "kind must be one of admit_member, remove_member, set_parameter, amend_constitution, "
            "treasury_spend",
        ),
        ("ruling", {}, "kind must be one of"),
    ],
)
def test_the_payload_is_an_object_of_a_kind_that_can_be_proposed(
    kind: str, payload: Any, message: str
) -> None:
    with pytest.raises(InvalidProposal) as info:
        parse_payload(kind, payload, Pool())
    assert info.value.message.startswith(message)


def test_a_spend_larger_than_the_treasury_at_execution_fails() -> None:
    pool = Pool(balance=10)
    with pytest.raises(InvalidProposal) as info:
        apply_payload("treasury_spend", TreasurySpend("dave", 11), pool)
    assert info.value.message == "the treasury holds 10, less than 11" and pool.done == []


def test_an_unknown_stored_kind_is_refused() -> None:
    with pytest.raises(InvalidProposal, match="unknown kind nonsense"):
        load_payload("nonsense", {})


def ruling(decision: str, penalty_bps: int = 0, epoch: int = 3) -> Ruling:
    return Ruling("ab" * 32, "pool", 1, "arbiter", decision, penalty_bps, epoch, "why", 1_000).signed(
        key_for("arbiter")
    )


@pytest.mark.parametrize(
    ("decision", "bps", "last_closed", "effects", "result"),
    [
        ("dismiss", 0, None, [], "dismissed"),
        ("remove", 0, None, [("status", "bob", "remove")], "bob removed"),
        ("penalty", 2500, None, [("penalty", 3, "bob", 2500)], "bob loses 25.00 % of epoch 3's share"),
        ("penalty", 2500, 5, [("penalty", 6, "bob", 2500)], "bob loses 25.00 % of epoch 6's share"),
        ("forfeit", 0, 2, [("penalty", 3, "bob", 10_000)], "bob loses 100.00 % of epoch 3's share"),
    ],
)
def test_rulings_apply(
    decision: str, bps: int, last_closed: int | None, effects: list[tuple[Any, ...]], result: str
) -> None:
    stored = {**ruling(decision, bps).to_dict(), "against": "bob"}
    payload = load_payload("ruling", stored)
    assert isinstance(payload, RulingExecution) and payload.to_wire() == stored
    assert list(payload.to_wire()) == [*ruling(decision).to_dict(), "against"]
    pool = Pool(last_closed=last_closed)
    assert apply_payload("ruling", payload, pool) == result
    assert pool.done == effects


@pytest.mark.parametrize(("epoch", "last_closed", "to"), [(3, None, 3), (3, 2, 3), (3, 3, 4), (1, 7, 8)])
def test_a_penalty_applies_to_the_next_open_epoch(epoch: int, last_closed: int | None, to: int) -> None:
    assert compute_penalty_epoch(epoch, last_closed) == to


def test_the_kinds_are_listed_once() -> None:
    assert tuple(k for k in KINDS if k != "ruling") == PROPOSABLE
    assert get_args(schemas.Proposal.model_fields["kind"].annotation) == PROPOSABLE
    assert tuple(cli.PAYLOADS) == PROPOSABLE
