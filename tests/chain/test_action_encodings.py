"""Every action kind round-trips through its wire object, and known encodings and ids stay put.

The digests below were computed before the containers' (de)serialisation was derived from
their dataclass fields: a change here changes transaction ids and block ids.
"""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from chain.core.codec import canonical_bytes_trusted
from chain.core.containers import ACTION_TYPES, Block, BlockHeader, Transaction, parse_action
from chain.core.crypto import DOMAIN_BLOCK, PrivateKey
from chain.core.errors import MalformedInput, MalformedTransaction
from chain.core.wire import fields_to_dict, parse_fields

H1 = "ab" * 32
H2 = "cd" * 32
KEY = PrivateKey(hashlib.sha256(b"bppool-test-key/pin").digest())
HEADER = BlockHeader.from_dict(
    {
        "chain_id": H1,
        "height": 3,
        "slot": 7,
        "prev_id": H2,
        "timestamp": 1_700_000_000_000,
        "producer": "alice",
        "builder": "bob",
        "tx_root": H1,
        "state_root": H2,
    }
)
OTHER = BlockHeader.from_dict({**HEADER.to_dict(), "tx_root": H2})
FIRST = {"header": HEADER.to_dict(), "signature": KEY.sign(DOMAIN_BLOCK, HEADER.canonical)}
SECOND = {"header": OTHER.to_dict(), "signature": KEY.sign(DOMAIN_BLOCK, OTHER.canonical)}
DEFINITION = {
    "name": "hashing",
    "price": 5_0000,
    "tasks": {
        "sha256": {"inputs": {"data": "bytes"}, "outputs": {"digest": "str"}, "verification": "reexecute"}
    },
}
RULE = {
    "on": {"service": H1, "task": "sha256"},
    "then": {"service": H2, "task": "sum"},
    "inputs": {"b": "x", "a": "y"},
}

# Wire objects (without ``type``) of every action kind: the fullest form and the sparest.
SAMPLES: dict[str, list[dict[str, Any]]] = {
    "transfer": [{"to": "bob", "amount": 12_3456, "memo": "rent"}, {"to": "bob.x", "amount": 1}],
    "create_account": [{"name": "carol", "key": H1}],
    "register_producer": [{"url": "https://bp.example"}, {}],
    "stake": [{"producer": "alice", "amount": 100}],
    "unstake": [{"producer": "alice", "amount": 2**62}],
    "withdraw": [{}],
    "unjail": [{}],
    "evidence": [{"first": FIRST, "second": SECOND}],
    "publish_service": [{"definition": DEFINITION}],
    "register_runner": [{"service": H1, "stake": 5, "price": 0}],
    "unregister_runner": [{"service": H2}],
    "request_execution": [
        {
            "service": H1,
            "task": "sha256",
            "inputs": {"data": "00ff"},
            "max_fee": 7,
            "runner": "runa",
            "process": H2,
        },
        {"service": H1, "task": "sha256", "inputs": {}, "max_fee": 0},
        {"service": H1, "task": "t", "inputs": {}, "max_fee": 0, "runner": "", "process": None},
    ],
    "submit_result": [
        {"execution": H1, "outputs": {"digest": "x", "n": [1, 2]}},
        {"execution": H1, "error": "task failed"},
    ],
    "submit_verdict": [
        {"execution": H1, "result_hash": H2},
        {"execution": H1, "accept": False},
        {"execution": H1, "result_hash": "", "accept": None},
    ],
    "create_process": [{"rules": [RULE, RULE], "deposit": 0, "max_fee": 9}],
    "fund_process": [{"process": H1, "amount": 3}],
    "close_process": [{"process": H2}],
}

# sha256 of the canonical bytes of each parsed sample's ``to_dict()`` (first 16 hex digits).
ENCODINGS = {
    "transfer#0": "46f5bbe68ae0e5e6",
    "transfer#1": "915d1cf7a5e8b693",
    "create_account#0": "d750612f25b4275b",
    "register_producer#0": "420bdb447b3c6588",
    "register_producer#1": "88deea31e039328e",
    "stake#0": "fa2dd0fec42e27b1",
    "unstake#0": "32ce3193987b464d",
    "withdraw#0": "bea4e056f08ae417",
    "unjail#0": "2588e1216f163562",
    "evidence#0": "3f2577150843eacc",
    "publish_service#0": "8f38dade66beabc5",
    "register_runner#0": "2900509d39d47329",
    "unregister_runner#0": "d84a12de1155f52d",
    "request_execution#0": "24536e4ab46d25d1",
    "request_execution#1": "cce0e154546f1b19",
    "request_execution#2": "96c8afd620739f66",
    "submit_result#0": "98750be6f3d34770",
    "submit_result#1": "8b9512fbc71128fb",
    "submit_verdict#0": "f018edc133bdd884",
    "submit_verdict#1": "93728ab3fa6db3db",
    "submit_verdict#2": "383201103d83967e",
    "create_process#0": "f81ab48d5137bb5e",
    "fund_process#0": "dbd0606ce6ae60ae",
    "close_process#0": "b8fbf285e61514d1",
}

TX_ID = "50bc89fa4828f11bab1dce970aa0975b22bacfa52979fde94bb5c131c53a7ffe"
TX_SIGNATURE = (
    "a834d05cdfe5ce15476d7e18f969dafa27d0332851ff8207572c5c81c63487ab"
    "d8e9fd7b7fcacc8a3e4962c1d3a60cab8c83f039d80ddb61300b0fc6a8a10a02"
)
BLOCK_ID = "7fbc7ebe92bbe2d3afebe47818d0eaffdf063cba8801e3dfeff3e5fce37325cc"
BLOCK_DIGEST = "36f501271cd55ba35692864d21e4fe939680fb9f76d15ff2ea99ed242ae4d49e"


def sample_tx() -> Transaction:
    """A signed transaction carrying a transfer."""
    return Transaction.from_dict(
        {
            "chain_id": H1,
            "sender": "alice",
            "nonce": 4,
            "fee": 100,
            "expiration": 1_700_000_060_000,
            "action": {"type": "transfer", "to": "bob", "amount": 5, "memo": ""},
            "signature": "00" * 64,
        }
    ).sign(KEY)


def sample_block() -> Block:
    """A block with a transaction and both signatures."""
    return Block(header=HEADER, transactions=(sample_tx(),)).signed_by_producer(KEY).signed_by_builder(KEY)


def test_every_action_kind_has_samples() -> None:
    assert set(SAMPLES) == set(ACTION_TYPES)


@pytest.mark.parametrize(
    ("kind", "index"), [(k, i) for k, wires in SAMPLES.items() for i in range(len(wires))]
)
def test_action_round_trips_and_keeps_its_encoding(kind: str, index: int) -> None:
    action = parse_action({"type": kind, **SAMPLES[kind][index]})
    assert type(action) is ACTION_TYPES[kind]
    wire = action.to_dict()
    assert wire["type"] == kind
    again = parse_action(wire)
    assert again == action
    assert again.to_dict() == wire
    digest = hashlib.sha256(canonical_bytes_trusted(wire)).hexdigest()[:16]
    assert digest == ENCODINGS[f"{kind}#{index}"]


def test_transaction_and_block_ids_do_not_change() -> None:
    tx = sample_tx()
    assert tx.id == TX_ID
    assert tx.signature == TX_SIGNATURE
    assert Transaction.from_dict(tx.to_dict()) == tx
    block = sample_block()
    assert block.id == BLOCK_ID
    assert hashlib.sha256(block.canonical()).hexdigest() == BLOCK_DIGEST
    assert Block.from_dict(block.to_dict()).canonical() == block.canonical()


def outcome(read: Any, data: Any) -> Any:
    """What reading ``data`` gives: the wire object back, or the error's class and message."""
    try:
        return read(data).to_dict()
    except MalformedInput as exc:
        return (type(exc).__name__, exc.message)


@pytest.mark.parametrize(
    "change",
    [
        {},
        {"nonce": -1},
        {"nonce": 2**53 + 1},
        {"fee": 1.5},
        {"sender": "NOT-A-NAME"},
        {"chain_id": "ab"},
        {"expiration": True},
        {"signature": "00"},
        {"action": {"type": "transfer", "to": "bob"}},
        {"action": "transfer"},
        {"extra": 1},
    ],
)
def test_the_written_out_transaction_wire_equals_the_one_its_fields_derive(change: dict[str, Any]) -> None:
    """Transactions are read and written by hand (the hot path); their declared fields stay the
    reference: the same objects, the same errors (as MalformedTransaction)."""
    tx = sample_tx()
    assert tx.to_dict() == fields_to_dict(tx)
    assert tx.body() == {k: v for k, v in fields_to_dict(tx).items() if k != "signature"}
    data = {**tx.to_dict(), **change}

    def derived(wire: Any) -> Transaction:
        try:
            return parse_fields(Transaction, wire, "transaction", "")
        except MalformedInput as exc:
            raise MalformedTransaction(exc.message) from None

    assert outcome(Transaction.from_dict, data) == outcome(derived, data)
