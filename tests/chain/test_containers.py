"""Parsing and encoding of transactions, headers and blocks."""

from __future__ import annotations

import copy

import pytest

from chain.core import Block, Transaction, containers
from chain.core.containers import ACTION_TYPES, parse_action
from chain.core.errors import MalformedInput, MalformedTransaction
from tests.helpers.chain import ChainSim, transfer


def test_transaction_round_trip(sim: ChainSim) -> None:
    tx = transfer(sim.state, "alice", "bob", 5)
    parsed = Transaction.from_dict(tx.to_dict())
    assert parsed.id == tx.id and parsed.signature == tx.signature
    assert parsed == tx


def test_transaction_id_excludes_signature(sim: ChainSim) -> None:
    tx = transfer(sim.state, "alice", "bob", 5)
    assert tx.id == Transaction.from_dict({**tx.to_dict(), "signature": "00" * 64}).id


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.update(extra=1), "unknown field"),
        (lambda d: d.pop("nonce"), "missing field"),
        (lambda d: d.update(nonce=1.0), "nonce: expected an integer"),
        (lambda d: d.update(nonce=True), "nonce: expected an integer"),
        (lambda d: d.update(fee=-1), "fee"),
        (lambda d: d.update(sender="Not Valid"), "sender"),
        (lambda d: d.update(chain_id="xyz"), "chain_id"),
        (lambda d: d.update(signature="ab"), "signature"),
        (lambda d: d["action"].update(type="nope"), "unknown action"),
        (lambda d: d["action"].update(amount=0), "amount"),
        (lambda d: d["action"].update(amount="1.0 BPT"), "amount"),
        (lambda d: d["action"].pop("to"), "missing field"),
    ],
)
def test_malformed_transactions_name_the_field(sim: ChainSim, mutate, message: str) -> None:
    data = copy.deepcopy(transfer(sim.state, "alice", "bob", 5).to_dict())
    mutate(data)
    with pytest.raises(MalformedTransaction, match=message):
        Transaction.from_dict(data)


def test_every_registered_action_round_trips(sim: ChainSim) -> None:
    samples = [
        containers.Transfer("bob", 1, "hi"),
        containers.CreateAccount("newbie", "ab" * 32),
        containers.RegisterProducer("https://bp.example"),
        containers.Stake("alpha", 3),
        containers.Unstake("alpha", 3),
        containers.Withdraw(),
        containers.Unjail(),
    ]
    for action in samples:
        assert parse_action(action.to_dict()) == action
    assert {a.TYPE for a in samples} <= set(ACTION_TYPES)


def test_block_round_trip(sim: ChainSim) -> None:
    block = sim.produce(txs=[transfer(sim.state, "alice", "bob", 5)])
    parsed = Block.from_dict(block.to_dict())
    assert parsed.id == block.id
    assert parsed.producer_signature == block.producer_signature
    assert [t.id for t in parsed.transactions] == [t.id for t in block.transactions]


def test_block_parse_errors_name_the_transaction(sim: ChainSim) -> None:
    block = sim.make_block(1, [transfer(sim.state, "alice", "bob", 5)])
    data = copy.deepcopy(block.to_dict())
    data["transactions"][0]["nonce"] = "x"
    with pytest.raises(MalformedInput, match=r"transactions\[0\]: nonce"):
        Block.from_dict(data)
    with pytest.raises(MalformedInput, match="more than 0"):
        Block.from_dict(block.to_dict(), max_transactions=0)
    with pytest.raises(MalformedInput, match="header"):
        Block.from_dict({"header": {}, "transactions": []})


def test_a_blocks_canonical_bytes_are_its_dicts_and_survive_new_signatures() -> None:
    from chain.core.codec import canonical_bytes_trusted
    from tests.helpers.chain import ChainSim, key_for, make_genesis, transfer

    sim = ChainSim(make_genesis())
    txs = [transfer(sim.state, "alice", "bob", 1, nonce=n) for n in range(3)]
    block = sim.make_block(1, txs, builder="bob")
    assert block.canonical() == canonical_bytes_trusted(block.to_dict())
    empty = sim.make_block(1)
    assert empty.canonical() == canonical_bytes_trusted(empty.to_dict())
    _ = block.transactions_json  # computed once, kept by copies with other signatures
    resigned = block.with_signatures(producer_signature=key_for("beta").sign(b"bppool/block/v1", b"h"))
    assert resigned.__dict__["transactions_json"] is block.transactions_json
    assert resigned.canonical() == canonical_bytes_trusted(resigned.to_dict())
    assert resigned.total_fees == block.total_fees == sum(tx.fee for tx in txs)
