"""Epoch statements: per-member rows, their Merkle root, and the pool's signature over it.

A row is the canonical JSON of ``{epoch, member, deliveries, valid, wins,
participation_bps, eligible, weight, penalty_bps, amount}``; rows are ordered by member and
committed to by an RFC 6962 Merkle root. The pool signs (domain ``bppool/statement/v1``) the
statement header: chain, pool, epoch, slot range, earnings, treasury, policy and parameters,
row count and root. Anyone can check a row with its inclusion proof, and recompute the whole
statement from the public event log and the chain (``bppool dac audit``).

Spec: ``docs/dac.md`` and the ``dac/split`` vectors (``docs/spec/vectors.md``).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from chain.core.codec import canonical_bytes_trusted
from chain.core.crypto import PrivateKey, verify_signature
from chain.core.merkle import compute_merkle_proof, compute_merkle_root, verify_merkle_proof
from pool_protocol.domains import DOMAIN_STATEMENT

from .split import Split


def compute_rows(epoch: int, split: Split) -> list[dict[str, Any]]:
    """The statement rows of a split, ordered by member."""
    return [{"epoch": epoch, **asdict(share)} for share in sorted(split.shares, key=lambda s: s.member)]


def row_bytes(row: dict[str, Any]) -> bytes:
    return canonical_bytes_trusted(row)


def compute_statement_root(rows: list[dict[str, Any]]) -> str:
    return compute_merkle_root([row_bytes(r) for r in rows])


def compute_row_proof(rows: list[dict[str, Any]], member: str) -> tuple[int, list[str]]:
    """``(index, audit path)`` of ``member``'s row."""
    for index, row in enumerate(rows):
        if row["member"] == member:
            return index, compute_merkle_proof([row_bytes(r) for r in rows], index)
    raise KeyError(member)


def verify_row(row: dict[str, Any], index: int, size: int, proof: list[str], root: str) -> bool:
    """True when ``row`` is at ``index`` of a statement of ``size`` rows with ``root``."""
    return verify_merkle_proof(row_bytes(row), index, size, proof, root)


def compute_statement_header(
    *,
    chain_id: str,
    pool: str,
    epoch: int,
    start_slot: int,
    end_slot: int,
    earnings: int,
    split: Split,
    rows: list[dict[str, Any]],
    pool_slots: int,
    counted_slots: int,
    policy: str,
    treasury_fee_bps: int,
    min_participation_bps: int,
    reconnect_grace_slots: int,
    hybrid_base_bps: int,
    penalties: dict[str, int],
) -> dict[str, Any]:
    """The statement header the pool signs: the epoch, its figures, the parameters the split
    used, and the rows' Merkle root."""
    return {
        "chain_id": chain_id,
        "pool": pool,
        "epoch": epoch,
        "start_slot": start_slot,
        "end_slot": end_slot,
        "earnings": earnings,
        "treasury": split.treasury,
        "pool_slots": pool_slots,
        "counted_slots": counted_slots,
        "members": len(rows),
        "policy": policy,
        "treasury_fee_bps": treasury_fee_bps,
        "min_participation_bps": min_participation_bps,
        "reconnect_grace_slots": reconnect_grace_slots,
        "hybrid_base_bps": hybrid_base_bps,
        "penalties": dict(sorted(penalties.items())),
        "root": compute_statement_root(rows),
    }


def sign_statement(key: PrivateKey, header: dict[str, Any]) -> str:
    """The pool's signature over a statement header."""
    return key.sign(DOMAIN_STATEMENT, canonical_bytes_trusted(header))


def verify_statement(public_key: str, header: dict[str, Any], signature: str) -> bool:
    return verify_signature(public_key, DOMAIN_STATEMENT, canonical_bytes_trusted(header), signature)
