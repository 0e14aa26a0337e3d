"""Every pattern check takes the whole string: a trailing newline (which ``re.match`` with
``$`` lets through), other whitespace or non-ASCII digits are refused, by each validator and
by the state transition itself."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from chain.core import Block, ChainError, PrivateKey, build_block, state_transition
from chain.core.containers import BlockHeader, CreateAccount, Transaction
from chain.core.errors import InvalidAccountName
from chain.core.params import Genesis
from chain.core.schedule import get_scheduled_producer
from chain.core.servicetypes import check_values, parse_definition
from chain.core.transition import compute_tx_root
from chain.core.types import (
    is_valid_account_name,
    parse_amount,
    validate_account_name,
    validate_hash,
    validate_hex,
    validate_public_key,
    validate_signature,
    validate_symbol,
)
from pool_dac.core.params import InvalidParameter, check_parameter
from tests.helpers.chain import ChainSim, key_for, make_genesis, make_tx

NAME = "abcdefghijkl"  # twelve characters: the longest name
HASH = "ab" * 32
SIGNATURE = "cd" * 64
DEFINITION = {
    "name": "svc",
    "price": 1,
    "tasks": {"run": {"inputs": {"x": "bytes"}, "outputs": {}, "verification": "trusted"}},
}


def _genesis_dict(**changes: Any) -> dict[str, Any]:
    data = make_genesis().to_dict()
    data.update(changes)
    return data


def _genesis_renaming(old: str, new: str) -> dict[str, Any]:
    data = make_genesis().to_dict()
    data["accounts"] = [{**a, "name": new} if a["name"] == old else a for a in data["accounts"]]
    return data


def _tx_dict(**changes: Any) -> dict[str, Any]:
    sim = ChainSim(make_genesis())
    data = make_tx(sim.state, "alice", CreateAccount(NAME, key_for("x").public_key)).to_dict()  # type: ignore[arg-type]
    data.update(changes)
    return data


def _header_dict(**changes: Any) -> dict[str, Any]:
    sim = ChainSim(make_genesis())
    data = sim.make_block(1).header.to_dict()
    data.update(changes)
    return data


def _definition(**changes: Any) -> dict[str, Any]:
    return {**DEFINITION, **changes}


# (what is checked, the call with a non-whole-string input, the error it must raise)
CASES: list[tuple[str, Callable[[], object], type[Exception]]] = [
    ("account name", lambda: validate_account_name(NAME + "\n"), ChainError),
    ("account name (short)", lambda: validate_account_name("alice\n"), ChainError),
    ("hex", lambda: validate_hex("abc\n", "field"), ChainError),
    ("hash", lambda: validate_hash(HASH[:-1] + "\n", "field"), ChainError),
    ("public key", lambda: validate_public_key(HASH[:-1] + "\n"), ChainError),
    ("signature", lambda: validate_signature(SIGNATURE[:-1] + "\n"), ChainError),
    ("token symbol", lambda: validate_symbol("BPT\n"), ChainError),
    ("amount with symbol", lambda: parse_amount("12.3456 BPT\n"), ChainError),
    ("amount", lambda: parse_amount("12\n"), ChainError),
    ("amount split by a newline", lambda: parse_amount("12\nBPT"), ChainError),
    ("amount, non-ASCII digit", lambda: parse_amount("²"), ChainError),
    ("amount, Arabic-Indic digits", lambda: parse_amount("١٢ BPT"), ChainError),
    ("amount, too many digits", lambda: parse_amount("9" * 5000), ChainError),
    ("private key seed", lambda: PrivateKey.from_hex(HASH + "\n"), ChainError),
    (
        "private key seed, spaced",
        lambda: PrivateKey.from_hex(" ".join(HASH[i : i + 2] for i in range(0, 62, 2)) + "ab"),
        ChainError,
    ),
    ("service name", lambda: parse_definition(_definition(name="svc\n")), ChainError),
    (
        "task name",
        lambda: parse_definition(_definition(tasks={"run\n": DEFINITION["tasks"]["run"]})),
        ChainError,
    ),
    (
        "field name",
        lambda: parse_definition(
            _definition(tasks={"run": {**DEFINITION["tasks"]["run"], "inputs": {"x\n": "int"}}})
        ),
        ChainError,
    ),
    ("bytes value", lambda: check_values({"x": "ab\n"}, (("x", "bytes"),), "inputs", 1024), ChainError),
    ("genesis symbol", lambda: Genesis.from_dict(_genesis_dict(symbol="BPT\n")), ChainError),
    (
        "genesis account",
        lambda: Genesis.from_dict(_genesis_renaming("alice", "alice\n")),
        ChainError,
    ),
    (
        "transaction action.name",
        lambda: Transaction.from_dict(
            _tx_dict(action={"type": "create_account", "name": NAME + "\n", "key": HASH})
        ),
        ChainError,
    ),
    ("transaction sender", lambda: Transaction.from_dict(_tx_dict(sender="alice\n")), ChainError),
    (
        "transaction signature",
        lambda: Transaction.from_dict(_tx_dict(signature=SIGNATURE[:-1] + "\n")),
        ChainError,
    ),
    ("block producer", lambda: BlockHeader.from_dict(_header_dict(producer="alpha\n")), ChainError),
    ("block prev_id", lambda: BlockHeader.from_dict(_header_dict(prev_id=HASH[:-1] + "\n")), ChainError),
    ("pool arbitrator parameter", lambda: check_parameter("arbitrator", "alice\n"), InvalidParameter),
]


@pytest.mark.parametrize(("what", "call", "error"), CASES, ids=[case[0] for case in CASES])
def test_validator_refuses_what_is_not_the_whole_string(
    what: str, call: Callable[[], object], error: type[Exception]
) -> None:
    with pytest.raises(error):
        call()


def test_the_longest_name_is_valid_and_its_newline_variant_is_not() -> None:
    assert is_valid_account_name(NAME)
    assert not is_valid_account_name(NAME + "\n")


def _create_account_tx(sim: ChainSim, name: str) -> Transaction:
    # Built in-process, past every decoder: only the state transition stands in the way.
    return make_tx(sim.state, "alice", CreateAccount(name, key_for("dave").public_key))  # type: ignore[arg-type]


def test_the_state_transition_refuses_a_name_with_a_trailing_newline() -> None:
    sim = ChainSim(make_genesis())
    tx = _create_account_tx(sim, NAME + "\n")
    slot = 1
    producer = get_scheduled_producer(sim.state, slot)
    # A producer building a block leaves it out, with the name's error code
    built = build_block(sim.state, slot=slot, producer=producer, transactions=[tx])
    assert not built.block.transactions
    ((_, exc),) = built.rejected
    assert isinstance(exc, InvalidAccountName) and exc.code == "invalid_name"
    # A block that carries it anyway is invalid
    header = replace(built.block.header, tx_root=compute_tx_root([tx]))
    block = Block(header, (tx,)).signed_by_producer(key_for(producer))
    with pytest.raises(InvalidAccountName, match="not a valid account name"):
        state_transition(sim.state, block)
    assert NAME + "\n" not in sim.state.accounts and sim.state.height == 0
    # The same name without the newline is taken
    sim.produce(slot, [_create_account_tx(sim, NAME)])
    assert NAME in sim.state.accounts
