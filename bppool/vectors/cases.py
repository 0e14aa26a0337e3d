# mypy: disable-error-code="arg-type"
# (the vectors are built from literals: the chain's NewTypes would only be noise here)
"""The vectors' inputs, made from fixed seeds (:mod:`bppool.vectors.keys`)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict, replace
from typing import Any

from bppool.vectors.keys import GENESIS_TIME, key, seed_hex
from chain.core import (
    Block,
    CreateAccount,
    Genesis,
    GenesisAccount,
    GenesisProducer,
    RegisterProducer,
    Stake,
    Transaction,
    Transfer,
    Unstake,
    build_block,
    create_genesis_state,
    state_transition,
)
from chain.core.crypto import DOMAIN_BLOCK
from chain.core.params import ChainParams
from chain.core.transition import compute_tx_root
from chain.core.types import AccountName, Amount
from emitter.core.strategies import STRATEGIES
from pool_protocol.applications import Application
from pool_protocol.messages import Ballot, ConstitutionSignature, Ruling


def transfer(to: str, amount: int, memo: str = "") -> Transfer:
    return Transfer(to=AccountName(to), amount=Amount(amount), memo=memo)


def _genesis(
    accounts: tuple[str, ...] = ("alice", "bob", "carol"), producers: tuple[str, ...] = ("alpha",)
) -> Genesis:
    names = list(dict.fromkeys([*producers, *accounts]))
    return Genesis(
        genesis_time=GENESIS_TIME,
        accounts=tuple(GenesisAccount(n, key(n).public_key, 1_000_000_0000) for n in names),
        producers=tuple(GenesisProducer(p, 100_000_0000) for p in producers),
        params=ChainParams(),
    )


def _tx(genesis: Genesis, sender: str, action: Any, nonce: int, fee: int = 10) -> Transaction:
    tx = Transaction(
        chain_id=genesis.chain_id,
        sender=sender,
        nonce=nonce,
        fee=fee,
        expiration=GENESIS_TIME + 3_600_000,
        action=action,
    )
    return tx.sign(key(sender))


def _unsigned(tx: Transaction) -> dict[str, Any]:
    data = tx.to_dict()
    del data["signature"]
    return data


Case = tuple[str, str, str, str, dict[str, Any]]  # runner, handler, case, description, input


def _encoding_cases() -> Iterator[Case]:
    values: list[tuple[str, str, Any]] = [
        (
            "object_keys_sorted",
            "keys sorted by their UTF-8 bytes, no whitespace",
            {"b": 1, "a": [True, None], "B": "x"},
        ),
        ("nested", "nested objects and arrays", {"z": {"y": [1, {"x": []}]}, "a": {}}),
        ("integers", "integers as decimal digits, negative too", [0, -1, 2**53, -(2**53)]),
        ("unicode", "non-ASCII text as UTF-8, not escaped", {"name": "é ü 漢 \u2028"}),
        ("escapes", "control characters and quotes escaped", 'line\nbreak "quote" \\ \t'),
        ("float_refused", "floats are not canonical", {"amount": 1.5}),
        ("big_integer_refused", "integers beyond 64 bits are refused", 2**64),
    ]
    for case, description, value in values:
        yield "encoding", "canonical", case, description, {"value": value}


def _message_cases(genesis: Genesis) -> Iterator[Case]:
    actions: list[tuple[str, Any]] = [
        ("transfer", transfer("bob", 12_3456, memo="rent")),
        ("create_account", CreateAccount(name="dave", key=key("dave").public_key)),
        ("register_producer", RegisterProducer(url="https://alice.example")),
        ("stake", Stake(producer="alpha", amount=5_0000)),
        ("unstake", Unstake(producer="alpha", amount=1_0000)),
    ]
    for name, action in actions:
        tx = _tx(genesis, "alice", action, nonce=3)
        yield (
            "messages",
            "transaction",
            name,
            f"a {action.TYPE} transaction by alice (nonce 3, fee 10) signed with her key",
            {"seed": seed_hex("alice"), "transaction": _unsigned(tx)},
        )
    built = build_block(
        create_genesis_state(genesis),
        slot=1,
        producer="alpha",
        builder="alice",
        transactions=[_tx(genesis, "alice", transfer("bob", 5), 0)],
    ).block
    yield (
        "messages",
        "block_header",
        "slot_1_built_by_alice",
        "the header of slot 1 of producer alpha, built by pool member alice",
        {
            "header": built.header.to_dict(),
            "producer_seed": seed_hex("alpha"),
            "builder_seed": seed_hex("alice"),
        },
    )
    body = b'{"header":{}}'
    for case, path, method, raw in (
        ("candidate_delivery", "/v1/pool/candidates", "POST", body),
        ("slots_current_empty_body", "/v1/pool/slots/current", "GET", b""),
        ("member_status", "/v1/pool/members/me", "GET", b""),
    ):
        yield (
            "messages",
            "request",
            case,
            f"a request by alice to pool alpha: {method} {path}",
            {
                "seed": seed_hex("alice"),
                "chain_id": genesis.chain_id,
                "pool": "alpha",
                "method": method,
                "path": path,
                "timestamp": GENESIS_TIME + 1234,
                "body_hex": raw.hex(),
            },
        )
    documents: list[tuple[str, str, dict[str, Any]]] = [
        (
            "ballot",
            "alice",
            asdict(Ballot(genesis.chain_id, "alpha", 4, "alice", "yes", GENESIS_TIME)),
        ),
        (
            "constitution_signature",
            "alice",
            asdict(ConstitutionSignature(genesis.chain_id, "alpha", "alice", 2, "ab" * 32, GENESIS_TIME)),
        ),
        (
            "ruling",
            "carol",
            asdict(
                Ruling(genesis.chain_id, "alpha", 9, "carol", "penalty", 2500, 3, "late twice", GENESIS_TIME)
            ),
        ),
        (
            "application",
            "bob",
            asdict(
                Application(
                    genesis.chain_id,
                    "alpha",
                    "bob",
                    key("bob").public_key,
                    "https://bob.example",
                    "cd" * 32,
                    GENESIS_TIME,
                )
            ),
        ),
    ]
    for kind, signer, document in documents:
        document.pop("signature")
        yield (
            "messages",
            "document",
            kind,
            f"a {kind.replace('_', ' ')} signed by {signer}",
            {"kind": kind, "seed": seed_hex(signer), "document": document},
        )


def _merkle_cases(genesis: Genesis) -> Iterator[Case]:
    txs = [
        _tx(genesis, s, transfer("bob", 1 + i), 0)
        for i, s in enumerate(("alice", "carol", "alpha", "bob", "alice"))
    ]
    for n in (0, 1, 2, 3, 5):
        yield (
            "merkle",
            "tx_root",
            f"{n}_transactions",
            f"tx_root of {n} transaction(s) (the empty root is sha256 of nothing)",
            {"transactions": [t.to_dict() for t in txs[:n]]},
        )
    leaves: list[tuple[str, str]] = [(b"accounts/alice".hex(), b'[1,"x"]'.hex())]
    for n, case in ((0, "empty"), (1, "one_leaf")):
        yield "state", "tree", case, f"the state tree of {n} leaf/leaves", {"leaves": leaves[:n]}
    many = [(f"accounts/a{i:03d}".encode().hex(), json.dumps([i, "v"]).encode().hex()) for i in range(40)]
    yield "state", "tree", "forty_leaves", "the state tree of 40 leaves (several buckets)", {"leaves": many}


def _state_cases(genesis: Genesis) -> Iterator[Case]:
    yield (
        "state",
        "genesis",
        "three_accounts_one_producer",
        "alice, bob, carol and producer alpha",
        {"genesis": genesis.to_dict()},
    )
    two = _genesis(producers=("alpha", "beta"))
    yield "state", "genesis", "two_producers", "two producers at genesis", {"genesis": two.to_dict()}


def _chain(genesis: Genesis, slots: list[tuple[int, list[Transaction]]]) -> list[Block]:
    """Blocks built and signed by the scheduled producers, one per listed slot."""
    from chain.core.schedule import get_scheduled_producer

    state = create_genesis_state(genesis)
    blocks = []
    for slot, txs in slots:
        producer = get_scheduled_producer(state, slot)
        built = build_block(state, slot=slot, producer=producer, transactions=txs).block
        block = built.with_signatures(
            producer_signature=key(producer).sign(DOMAIN_BLOCK, built.header.canonical)
        )
        state_transition(state, block)
        blocks.append(block)
    return blocks


def _resigned(block: Block, **header: Any) -> Block:
    new = replace(block.header, **header)
    producer = new.producer
    return replace(block, header=new, producer_signature=key(producer).sign(DOMAIN_BLOCK, new.canonical))


def _transition_cases(genesis: Genesis) -> Iterator[Case]:
    g = genesis
    valid = _chain(
        g,
        [
            (
                1,
                [
                    _tx(g, "alice", transfer("bob", 5_0000), 0),
                    _tx(g, "bob", transfer("carol", 7), 0),
                ],
            ),
            (2, []),
            (4, [_tx(g, "carol", Stake(producer="alpha", amount=1_0000), 0)]),
            (5, [_tx(g, "alice", CreateAccount(name="dave", key=key("dave").public_key), 1)]),
        ],
    )
    wire = [b.to_dict() for b in valid]
    yield (
        "transition",
        "blocks",
        "four_valid_blocks",
        "transfers, an empty block, a skipped slot, a stake, a new account",
        {"genesis": g.to_dict(), "blocks": wire},
    )
    first = valid[0]
    bad: list[tuple[str, str, Block]] = [
        (
            "wrong_state_root",
            "the header's state_root is not the state's",
            _resigned(first, state_root="00" * 32),
        ),
        (
            "wrong_tx_root",
            "the header's tx_root is not the transactions'",
            _resigned(first, tx_root="00" * 32),
        ),
        (
            "wrong_producer",
            "slot 1 signed by a producer not scheduled for it",
            _resigned(first, producer="alice"),
        ),
        (
            "bad_producer_signature",
            "the producer signature is another header's",
            replace(first, producer_signature=valid[1].producer_signature),
        ),
        ("wrong_height", "a height that does not follow the parent", _resigned(first, height=2)),
        ("wrong_prev_id", "a parent that is not the head", _resigned(first, prev_id="11" * 32)),
    ]
    tampered = replace(first.transactions[0], signature=first.transactions[1].signature)

    def carrying(*txs: Transaction) -> Block:
        """Slot 1 carrying ``txs`` (its tx_root theirs): refused for the first bad one."""
        return _resigned(replace(first, transactions=txs), tx_root=compute_tx_root(txs))

    expired = replace(_tx(g, "alice", transfer("bob", 1), 0), expiration=GENESIS_TIME)
    bad += [
        ("bad_transaction_signature", "a transaction's signature is another's", carrying(tampered)),
        (
            "nonce_mismatch",
            "a transaction whose nonce is not the sender's",
            carrying(_tx(g, "alice", transfer("bob", 1), 7)),
        ),
        (
            "insufficient_balance",
            "a transfer of more than the sender has",
            carrying(_tx(g, "alice", transfer("bob", 10**15), 0)),
        ),
        (
            "unknown_sender",
            "a transaction from an account that does not exist",
            carrying(_tx(g, "dave", transfer("bob", 1), 0)),
        ),
        ("expired", "a transaction that expired before the block", carrying(expired.sign(key("alice")))),
        (
            "wrong_chain_id",
            "a transaction for another chain",
            carrying(replace(_tx(g, "alice", transfer("bob", 1), 0), chain_id="22" * 32).sign(key("alice"))),
        ),
    ]
    for case, description, block in bad:
        yield "transition", "blocks", case, description, {"genesis": g.to_dict(), "blocks": [block.to_dict()]}
    # A block valid in itself after one that is refused is not tried.
    yield (
        "transition",
        "blocks",
        "refused_then_valid",
        "a refused block stops the sequence",
        {"genesis": g.to_dict(), "blocks": [bad[0][2].to_dict(), wire[0]]},
    )


def _pool_cases() -> Iterator[Case]:
    members = ["alice", "bob", "carol"]
    view = {"slot": 7, "now_offset_ms": 120, "cutoff_ms": 300, "grace_ms": 100, "members": members}
    arrivals = [
        {"seq": 1, "member": "bob", "block_id": "b1" * 32, "offset_ms": 40, "valid": False, "fees": 90},
        {"seq": 2, "member": "carol", "block_id": "c2" * 32, "offset_ms": 55, "valid": True, "fees": 30},
        {"seq": 3, "member": "alice", "block_id": "a3" * 32, "offset_ms": 80, "valid": True, "fees": 70},
    ]
    for strategy in sorted(STRATEGIES):
        yield (
            "pool",
            "strategy",
            f"{strategy}_three_arrivals",
            f"{strategy}: a refused first arrival, two valid",
            {"strategy": strategy, "arrivals": arrivals, "view": view},
        )
        yield (
            "pool",
            "strategy",
            f"{strategy}_pending",
            f"{strategy}: the first arrival not yet validated",
            {"strategy": strategy, "arrivals": [{**arrivals[0], "valid": None}, *arrivals[1:]], "view": view},
        )
        yield (
            "pool",
            "strategy",
            f"{strategy}_nothing_by_cutoff",
            f"{strategy}: no valid candidate at the cutoff",
            {"strategy": strategy, "arrivals": arrivals[:1], "view": {**view, "now_offset_ms": 300}},
        )


def _dac_cases(genesis: Genesis) -> Iterator[Case]:
    members = [
        {"member": "alice", "deliveries": 40, "valid": 38, "wins": 20},
        {"member": "bob", "deliveries": 40, "valid": 30, "wins": 15},
        {"member": "carol", "deliveries": 5, "valid": 2, "wins": 1},
    ]
    for policy in ("even", "weighted", "hybrid"):
        yield (
            "dac",
            "split",
            f"{policy}_three_members",
            f"40 counted slots split under {policy} (10% to the treasury, carol below participation)",
            {
                "chain_id": genesis.chain_id,
                "pool": "alpha",
                "epoch": 3,
                "start_slot": 240,
                "end_slot": 360,
                "earnings": 1_000_000,
                "treasury_fee_bps": 1000,
                "policy": policy,
                "min_participation_bps": 5000,
                "reconnect_grace_slots": 2,
                "hybrid_base_bps": 3000,
                "pool_slots": 42,
                "counted_slots": 40,
                "members": members,
                "penalties": {"bob": 2500},
                "seed": seed_hex("alpha"),
            },
        )


def cases() -> Iterator[Case]:
    genesis = _genesis()
    yield from _encoding_cases()
    yield from _message_cases(genesis)
    yield from _merkle_cases(genesis)
    yield from _state_cases(genesis)
    yield from _transition_cases(genesis)
    yield from _pool_cases()
    yield from _dac_cases(genesis)
