# mypy: disable-error-code="arg-type"
# (the vectors are built from literals: the chain's NewTypes would only be noise here)
"""Conformance vectors: inputs and the outputs this implementation computes from them.

The layout follows consensus-spec-tests: ``<runner>/<handler>/<case>.json`` under one folder,
each file ``{"runner", "handler", "case", "description", "input", "output"}``. Every handler is
one function of the implementation run on ``input`` (:data:`HANDLERS`); generating writes what
it returns, checking runs it again on the committed inputs and compares. A member written in
another language runs the same inputs through its own code (``docs/spec/vectors.md`` says what
each handler computes and which section of the spec it follows).

The inputs are made here from fixed seeds (keys are ``sha256("bppool-vector-key/" + name)``),
so generating twice writes the same bytes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from chain.core import (
    Block,
    BlockHeader,
    ChainError,
    CreateAccount,
    Genesis,
    GenesisAccount,
    GenesisProducer,
    PrivateKey,
    RegisterProducer,
    Stake,
    Transaction,
    Transfer,
    Unstake,
    build_block,
    compute_state_root,
    create_genesis_state,
    state_transition,
)
from chain.core.codec import canonical_bytes
from chain.core.crypto import DOMAIN_BLOCK, DOMAIN_CANDIDATE, DOMAIN_TX, compute_signing_digest
from chain.core.merkle import StateTree, compute_merkle_proof
from chain.core.params import ChainParams
from chain.core.state import encode_record
from chain.core.transition import compute_tx_root
from chain.core.types import AccountName, Amount
from emitter.core.strategies import STRATEGIES, Arrival, SlotView
from pool_dac.core.split import MemberMetrics, compute_split
from pool_dac.core.statement import compute_row_proof, compute_rows, compute_statement_header, sign_statement
from pool_protocol.applications import Application
from pool_protocol.domains import DOMAIN_REQUEST
from pool_protocol.messages import Ballot, ConstitutionSignature, Ruling
from pool_protocol.requests import compute_request_payload, sign_request
from pool_protocol.signed import SignedDocument

GENESIS_TIME = 1_700_000_000_000
SLOT_MS = 500


def transfer(to: str, amount: int, memo: str = "") -> Transfer:
    return Transfer(to=AccountName(to), amount=Amount(amount), memo=memo)


def key(name: str) -> PrivateKey:
    """The vectors' key of ``name`` (its seed: ``sha256("bppool-vector-key/" + name)``)."""
    return PrivateKey(hashlib.sha256(b"bppool-vector-key/" + name.encode()).digest())


def seed_hex(name: str) -> str:
    return hashlib.sha256(b"bppool-vector-key/" + name.encode()).hexdigest()


def key_of(seed: str) -> PrivateKey:
    return PrivateKey(bytes.fromhex(seed))


# --- handlers: input -> output ---------------------------------------------------------------


def run_canonical(data: dict[str, Any]) -> dict[str, Any]:
    """``encoding/canonical``: a JSON value's canonical bytes, or the refusal's code."""
    try:
        return {"hex": canonical_bytes(data["value"]).hex()}
    except ChainError as exc:
        return {"error": exc.code}


def run_transaction(data: dict[str, Any]) -> dict[str, Any]:
    """``messages/transaction``: the body bytes a sender signs, the id, the signing digest,
    the signature (ed25519 over the digest) and the transaction's ``tx_root`` leaf."""
    tx = Transaction.from_dict({**data["transaction"], "signature": "00" * 64})
    signed = tx.sign(key_of(data["seed"]))
    return {
        "body_hex": tx.body_bytes.hex(),
        "id": tx.id,
        "signing_digest": compute_signing_digest(DOMAIN_TX, tx.body_bytes).hex(),
        "signature": signed.signature,
        "leaf_hash": signed.leaf_hash.hex(),
    }


def run_header(data: dict[str, Any]) -> dict[str, Any]:
    """``messages/block_header``: the canonical header bytes, the block id, and the producer's
    and the builder's signatures over them (each under its domain)."""
    header = BlockHeader.from_dict(data["header"])
    canonical = header.canonical
    return {
        "canonical_hex": canonical.hex(),
        "id": header.id,
        "producer_digest": compute_signing_digest(DOMAIN_BLOCK, canonical).hex(),
        "producer_signature": key_of(data["producer_seed"]).sign(DOMAIN_BLOCK, canonical),
        "builder_digest": compute_signing_digest(DOMAIN_CANDIDATE, canonical).hex(),
        "builder_signature": key_of(data["builder_seed"]).sign(DOMAIN_CANDIDATE, canonical),
    }


def run_request(data: dict[str, Any]) -> dict[str, Any]:
    """``messages/request``: a signed request's payload, digest and ``X-BP-Signature``."""
    fields = {k: data[k] for k in ("chain_id", "pool", "method", "path", "timestamp")}
    body = bytes.fromhex(data["body_hex"])
    payload = compute_request_payload(**fields, body=body)
    return {
        "payload_hex": payload.hex(),
        "digest": compute_signing_digest(DOMAIN_REQUEST, payload).hex(),
        "signature": sign_request(key_of(data["seed"]), **fields, body=body),
    }


DOCUMENTS: dict[str, type[SignedDocument]] = {
    "ballot": Ballot,
    "constitution_signature": ConstitutionSignature,
    "ruling": Ruling,
    "application": Application,
}


def run_document(data: dict[str, Any]) -> dict[str, Any]:
    """``messages/<document>``: a signed document's payload bytes, digest and signature."""
    cls = DOCUMENTS[data["kind"]]
    doc = cls.from_dict({**data["document"], "signature": "00" * 64})
    payload = doc.payload()
    return {
        "payload_hex": payload.hex(),
        "digest": compute_signing_digest(cls.DOMAIN, payload).hex(),
        "signature": doc.signed(key_of(data["seed"])).signature,
    }


def run_tx_root(data: dict[str, Any]) -> dict[str, Any]:
    """``merkle/tx_root``: the root over ``id || signature`` of each transaction, in order,
    and each one's inclusion proof."""
    txs = [Transaction.from_dict(t) for t in data["transactions"]]
    leaves = [bytes.fromhex(t.id) + bytes.fromhex(t.signature) for t in txs]
    return {
        "root": compute_tx_root(txs),
        "proofs": [compute_merkle_proof(leaves, i) for i in range(len(leaves))],
    }


def run_state_tree(data: dict[str, Any]) -> dict[str, Any]:
    """``state/tree``: the state root of a set of (tree key, value) leaves."""
    leaves = [(bytes.fromhex(k), bytes.fromhex(v)) for k, v in data["leaves"]]
    return {"root": StateTree().update(leaves)}


def run_genesis(data: dict[str, Any]) -> dict[str, Any]:
    """``state/genesis``: a genesis document's chain id, its state's records (tree key and
    value bytes) and its state root."""
    genesis = Genesis.from_dict(data["genesis"])
    state = create_genesis_state(genesis)
    records = sorted(
        (table.leaf_key(k).hex(), encode_record(r).hex())
        for table in state.tables.values()
        if table.committed
        for k, r in table.rows.items()
    )
    return {"chain_id": genesis.chain_id, "records": records, "state_root": compute_state_root(state)}


def run_blocks(data: dict[str, Any]) -> dict[str, Any]:
    """``transition/blocks``: genesis, then each block in turn (its producer's signature
    checked): the block id and state root after each, or the error code of the first block
    that is refused (and the ones after it are not tried)."""
    state = create_genesis_state(Genesis.from_dict(data["genesis"]))
    after: list[dict[str, Any]] = []
    for raw in data["blocks"]:
        try:
            block = Block.from_dict(raw)
            state_transition(state, block)
        except ChainError as exc:
            return {"applied": after, "error": exc.code}
        after.append({"block_id": block.id, "state_root": compute_state_root(state)})
    return {"applied": after, "error": None}


def run_strategy(data: dict[str, Any]) -> dict[str, Any]:
    """``pool/strategy``: what a strategy decides for a slot's arrivals at a moment."""
    arrivals = [Arrival(**a) for a in data["arrivals"]]
    view = SlotView(**{**data["view"], "members": tuple(data["view"]["members"])})
    decision = STRATEGIES[data["strategy"]](arrivals, view)
    return {"action": decision.action, "block_id": decision.block_id}


def run_split(data: dict[str, Any]) -> dict[str, Any]:
    """``dac/split``: one epoch's earnings split among members, and its statement (rows,
    Merkle root, each member's proof, the pool's signature over the header)."""
    split = compute_split(
        earnings=data["earnings"],
        treasury_fee_bps=data["treasury_fee_bps"],
        policy=data["policy"],
        min_participation_bps=data["min_participation_bps"],
        hybrid_base_bps=data["hybrid_base_bps"],
        pool_slots=data["counted_slots"],
        members=[MemberMetrics(**m) for m in data["members"]],
        penalties=data["penalties"],
    )
    rows = compute_rows(data["epoch"], split)
    header = compute_statement_header(
        chain_id=data["chain_id"],
        pool=data["pool"],
        epoch=data["epoch"],
        start_slot=data["start_slot"],
        end_slot=data["end_slot"],
        earnings=data["earnings"],
        split=split,
        rows=rows,
        pool_slots=data["pool_slots"],
        counted_slots=data["counted_slots"],
        policy=data["policy"],
        treasury_fee_bps=data["treasury_fee_bps"],
        min_participation_bps=data["min_participation_bps"],
        reconnect_grace_slots=data["reconnect_grace_slots"],
        hybrid_base_bps=data["hybrid_base_bps"],
        penalties=data["penalties"],
    )
    return {
        "shares": [asdict(s) for s in split.shares],
        "rows": rows,
        "header": header,
        "header_hex": canonical_bytes(header).hex(),
        "proofs": {r["member"]: compute_row_proof(rows, r["member"]) for r in rows},
        "signature": sign_statement(key_of(data["seed"]), header),
    }


HANDLERS: dict[tuple[str, str], Callable[[dict[str, Any]], dict[str, Any]]] = {
    ("encoding", "canonical"): run_canonical,
    ("messages", "transaction"): run_transaction,
    ("messages", "block_header"): run_header,
    ("messages", "request"): run_request,
    ("messages", "document"): run_document,
    ("merkle", "tx_root"): run_tx_root,
    ("state", "tree"): run_state_tree,
    ("state", "genesis"): run_genesis,
    ("transition", "blocks"): run_blocks,
    ("pool", "strategy"): run_strategy,
    ("dac", "split"): run_split,
}


# --- the inputs ------------------------------------------------------------------------------


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


# --- files -----------------------------------------------------------------------------------


def render(runner: str, handler: str, case: str, description: str, data: dict[str, Any]) -> bytes:
    """One vector file's bytes: indented JSON, keys in a fixed order, a newline at the end."""
    output = HANDLERS[(runner, handler)](data)
    vector = {
        "runner": runner,
        "handler": handler,
        "case": case,
        "description": description,
        "input": data,
        "output": output,
    }
    return (json.dumps(vector, indent=1, ensure_ascii=False) + "\n").encode()


def generate(out: Path) -> dict[str, int]:
    """Write every vector under ``out`` (replacing what is there); the count per handler."""
    counts: dict[str, int] = {}
    for runner, handler, case, description, data in cases():
        path = out / runner / handler / f"{case}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(render(runner, handler, case, description, data))
        counts[f"{runner}/{handler}"] = counts.get(f"{runner}/{handler}", 0) + 1
    return counts


def check(folder: Path) -> tuple[int, list[str]]:
    """Run every vector under ``folder`` through this implementation: how many ran, and one
    line per vector whose output differs (or that cannot be read)."""
    problems: list[str] = []
    ran = 0
    for path in sorted(folder.rglob("*.json")):
        where = str(path.relative_to(folder))
        try:
            vector = json.loads(path.read_text())
            handler = HANDLERS[(vector["runner"], vector["handler"])]
        except (ValueError, KeyError, TypeError) as exc:
            problems.append(f"{where}: not a vector ({exc})")
            continue
        ran += 1
        got = json.loads(json.dumps(handler(vector["input"])))
        if got != vector["output"]:
            differing = sorted(
                k for k in set(got) | set(vector["output"]) if got.get(k) != vector["output"].get(k)
            )
            problems.append(f"{where}: output differs in {', '.join(differing)}")
    return ran, problems
