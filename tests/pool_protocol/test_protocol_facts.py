"""The pool protocol's shared facts: signature domains, verdicts, strategy names, tallies."""

from __future__ import annotations

import pytest

from chain.core.crypto import CHAIN_DOMAINS, compute_signing_digest
from emitter.core import FALLBACKS, STRATEGIES
from pool_dac.core import params
from pool_protocol import domains
from pool_protocol.outcomes import (
    FALLBACK_NAMES,
    STRATEGY_NAMES,
    VALID_VERDICTS,
    DeliveryTally,
    compute_delivery_tallies,
)


def test_pool_domains_are_distinct_from_the_chains_and_each_other() -> None:
    names = [domains.DOMAIN_VOTE, domains.DOMAIN_REQUEST, domains.DOMAIN_STATEMENT]
    names += [domains.DOMAIN_APPLICATION, domains.DOMAIN_RULING, domains.DOMAIN_CONSTITUTION]
    assert len(set(names)) == len(names) == len(domains.POOL_DOMAINS)
    assert not domains.POOL_DOMAINS & CHAIN_DOMAINS
    digests = {compute_signing_digest(d, b"{}") for d in domains.POOL_DOMAINS | CHAIN_DOMAINS}
    assert len(digests) == len(domains.POOL_DOMAINS | CHAIN_DOMAINS)


MALFORMED = [b"", b"bppool/vote", b"other/vote/v1", b"bppool/Vote/v1", b"bppool/vote/v1\x00"]


@pytest.mark.parametrize("domain", MALFORMED)
def test_a_malformed_domain_is_refused(domain: bytes) -> None:
    with pytest.raises(ValueError, match="unknown signature domain"):
        compute_signing_digest(domain, b"{}")


def test_strategy_and_fallback_names_are_one_list() -> None:
    assert tuple(STRATEGIES) == STRATEGY_NAMES == params.STRATEGIES
    assert FALLBACKS == FALLBACK_NAMES == params.FALLBACKS


def test_delivery_tally_counts_valid_and_won_deliveries() -> None:
    arrivals = [
        {"member": "alice", "verdict": "selected"},
        {"member": "alice", "verdict": "valid"},
        {"member": "alice", "verdict": "bad_state_root"},
        {"member": "bob", "verdict": None},
    ]
    tallies = compute_delivery_tallies(arrivals)
    assert tallies == {"alice": DeliveryTally(3, 2, 1), "bob": DeliveryTally(1, 0, 0)}
    grouped = DeliveryTally()
    grouped.add("valid", 4)
    grouped.add("selected", 2)
    assert grouped == DeliveryTally(6, 6, 2)
    assert set(VALID_VERDICTS) == {"selected", "valid"}


def test_a_members_deliveries_for_one_slot_count_once_by_their_best_verdict() -> None:
    """In an emitter group a member may deliver one block to several instances (failing over
    within the slot, or on purpose): each logs it, the tally counts the slot once."""
    arrivals = [
        {"member": "alice", "slot": 7, "verdict": "valid"},
        {"member": "alice", "slot": 7, "verdict": "selected"},  # the same block, another instance
        {"member": "alice", "slot": 7, "verdict": "valid"},
        {"member": "alice", "slot": 8, "verdict": "late"},
        {"member": "alice", "slot": 8, "verdict": "valid"},
        {"member": "bob", "slot": 7, "verdict": "duplicate"},
        {"member": "bob", "slot": 7, "verdict": "wrong_parent"},
        {"member": "bob", "slot": None, "verdict": "malformed"},
        {"member": "bob", "slot": None, "verdict": "malformed"},
    ]
    assert compute_delivery_tallies(arrivals) == {
        "alice": DeliveryTally(deliveries=2, valid=2, wins=1),
        "bob": DeliveryTally(deliveries=3, valid=0, wins=0),
    }
