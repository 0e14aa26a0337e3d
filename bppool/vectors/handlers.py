"""The handlers: one function of the implementation per vector kind, ``input -> output``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from bppool.vectors.keys import key_of
from chain.core import (
    Block,
    BlockHeader,
    ChainError,
    Genesis,
    Transaction,
    compute_state_root,
    create_genesis_state,
    state_transition,
)
from chain.core.codec import canonical_bytes
from chain.core.crypto import DOMAIN_BLOCK, DOMAIN_CANDIDATE, DOMAIN_TX, compute_signing_digest
from chain.core.merkle import StateTree, compute_merkle_proof
from chain.core.state import encode_record
from chain.core.transition import compute_tx_root
from emitter.core.strategies import STRATEGIES, Arrival, SlotView
from pool_dac.core.split import MemberMetrics, compute_split
from pool_dac.core.statement import compute_row_proof, compute_rows, compute_statement_header, sign_statement
from pool_protocol.applications import Application
from pool_protocol.domains import DOMAIN_REQUEST
from pool_protocol.messages import Ballot, ConstitutionSignature, Ruling
from pool_protocol.requests import compute_request_payload, sign_request
from pool_protocol.signed import SignedDocument


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
    # What both the split and the statement header take as they are.
    shared = {
        k: data[k]
        for k in (
            "earnings",
            "treasury_fee_bps",
            "policy",
            "min_participation_bps",
            "hybrid_base_bps",
            "penalties",
        )
    }
    members = [MemberMetrics(**m) for m in data["members"]]
    split = compute_split(**shared, pool_slots=data["counted_slots"], members=members)
    rows = compute_rows(data["epoch"], split)
    header = compute_statement_header(
        **shared,
        **{
            k: data[k]
            for k in ("chain_id", "pool", "epoch", "start_slot", "end_slot", "pool_slots", "counted_slots")
        },
        reconnect_grace_slots=data["reconnect_grace_slots"],
        split=split,
        rows=rows,
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
