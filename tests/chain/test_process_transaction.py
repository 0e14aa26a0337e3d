"""process_transaction: chain id, expiration, sender, nonce, fee, signature (cached)."""

from __future__ import annotations

import pytest

from chain.core import SignatureCache, Transaction
from chain.core.containers import Transfer
from chain.core.errors import (
    BadSignature,
    ExpirationTooFar,
    FeeTooLow,
    InsufficientBalance,
    NonceMismatch,
    TransactionExpired,
    UnknownAccount,
    WrongChainId,
)
from chain.core.transition import build_block
from tests.helpers.chain import ChainSim, key_for, make_tx, transfer


def rejection(sim: ChainSim, tx: Transaction) -> Exception:
    built = build_block(sim.state, slot=1, producer="alpha", transactions=[tx], sig_cache=sim.cache)
    assert not built.block.transactions
    assert len(built.rejected) == 1
    return built.rejected[0][1]


def test_valid_transfer_pays_fee_and_bumps_nonce(sim: ChainSim) -> None:
    alice = sim.state.accounts["alice"]
    tx = transfer(sim.state, "alice", "bob", 1000, fee=25)
    sim.produce(1, [tx])
    after = sim.state.accounts["alice"]
    assert after.balance == alice.balance - 1000 - 25
    assert after.nonce == alice.nonce + 1


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (lambda s: transfer(s, "alice", "bob", 1, chain_id="ab" * 32), WrongChainId, "chain"),
        (lambda s: transfer(s, "alice", "bob", 1, expiration=1), TransactionExpired, "expired"),
        (lambda s: transfer(s, "alice", "bob", 1, expiration=2**52), ExpirationTooFar, "more than"),
        (lambda s: transfer(s, "nobody", "bob", 1, nonce=0), UnknownAccount, "nobody"),
        (lambda s: transfer(s, "alice", "bob", 1, nonce=5), NonceMismatch, "next nonce is 0"),
        (lambda s: transfer(s, "alice", "bob", 1, fee=0), FeeTooLow, "below the minimum"),
        (
            lambda s: transfer(s, "alice", "bob", 1, key=key_for("bob")),
            BadSignature,
            "does not verify",
        ),
        (lambda s: transfer(s, "alice", "bob", 1, fee=2**61), InsufficientBalance, "the fee"),
    ],
)
def test_transaction_rejections(sim: ChainSim, make, error: type, message: str) -> None:
    exc = rejection(sim, make(sim.state))
    assert isinstance(exc, error)
    assert message in exc.message


def test_unsigned_transaction_is_rejected(sim: ChainSim) -> None:
    signed = transfer(sim.state, "alice", "bob", 1)
    tx = Transaction(signed.chain_id, "alice", 0, 10, signed.expiration, Transfer("bob", 1))  # type: ignore[arg-type]
    assert isinstance(rejection(sim, tx), BadSignature)


def test_signature_cache_skips_second_verification(sim: ChainSim) -> None:
    cache = SignatureCache()
    tx = transfer(sim.state, "alice", "bob", 1)
    build_block(sim.state, slot=1, producer="alpha", transactions=[tx], sig_cache=cache)
    assert (cache.hits, cache.misses) == (0, 1)
    build_block(sim.state, slot=1, producer="alpha", transactions=[tx], sig_cache=cache)
    assert (cache.hits, cache.misses) == (1, 1)


def test_signature_cache_is_keyed_by_public_key(sim: ChainSim) -> None:
    cache = SignatureCache()
    tx = transfer(sim.state, "alice", "bob", 1)
    cache.add(tx, key_for("bob").public_key)  # a verdict under another key must not count
    assert not cache.is_verified(tx, key_for("alice").public_key)
    forged = Transaction(
        tx.chain_id,
        tx.sender,
        tx.nonce,
        tx.fee,
        tx.expiration,
        tx.action,
        key_for("bob").sign(b"bppool/tx/v1", tx.body_bytes),
    )
    cache2 = SignatureCache()
    cache2.add(tx, key_for("alice").public_key)
    assert not cache2.is_verified(forged, key_for("alice").public_key)


def test_signature_cache_is_bounded() -> None:
    cache = SignatureCache(capacity=2)
    from tests.chain.conftest import small_params
    from tests.helpers.chain import make_genesis

    sim = ChainSim(make_genesis(params=small_params()))
    txs = [transfer(sim.state, "alice", "bob", 1, nonce=n) for n in range(3)]
    for tx in txs:
        cache.add(tx, "k")
    assert len(cache) == 2 and not cache.is_verified(txs[0], "k")


def test_replayed_transaction_fails_on_nonce(sim: ChainSim) -> None:
    tx = transfer(sim.state, "alice", "bob", 1)
    sim.produce(1, [tx])
    built = build_block(sim.state, slot=2, producer="alpha", transactions=[tx], sig_cache=sim.cache)
    assert isinstance(built.rejected[0][1], NonceMismatch)


def test_action_failure_keeps_the_fee_out_of_the_block(sim: ChainSim) -> None:
    tx = make_tx(sim.state, "alice", Transfer("bob", 2**61))
    exc = rejection(sim, tx)
    assert isinstance(exc, InsufficientBalance)
    assert sim.state.accounts["alice"].nonce == 0
