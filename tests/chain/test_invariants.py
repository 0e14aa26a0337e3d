"""Invariants over random valid block sequences (hypothesis).

* total supply == genesis supply + minted rewards - slashed (burned) amounts, after every block;
* the incremental state root always equals the root computed from scratch;
* two independent replays of the same blocks give the same state root.
"""

from __future__ import annotations

import os

from hypothesis import given, settings
from hypothesis import strategies as st

from chain.core import (
    CreateAccount,
    DoubleProductionEvidence,
    RegisterProducer,
    Stake,
    Store,
    Transfer,
    Unjail,
    Unstake,
    Withdraw,
    compute_full_state_root,
    compute_state_root,
    create_genesis_state,
    state_transition,
)
from chain.core.helpers import compute_total_supply
from tests.chain.conftest import small_params
from tests.helpers.chain import ChainSim, double_sign, key_for, make_genesis, make_tx

# More examples on demand: BPPOOL_INVARIANT_EXAMPLES=400 ./dev test tests/chain/test_invariants.py
EXAMPLES = int(os.environ.get("BPPOOL_INVARIANT_EXAMPLES", "40"))
USERS = ["alice", "bob", "carol"]
PRODUCERS = ["alpha", "beta", "gamma"]
EVERYONE = USERS + PRODUCERS
amounts = st.integers(min_value=1, max_value=2_000_0000)

operations = st.one_of(
    st.tuples(
        st.just("transfer"),
        st.sampled_from(EVERYONE),
        st.sampled_from(EVERYONE + ["dave"]),
        amounts,
    ),
    st.tuples(st.just("stake"), st.sampled_from(EVERYONE), st.sampled_from(PRODUCERS + ["alice"]), amounts),
    st.tuples(
        st.just("unstake"),
        st.sampled_from(EVERYONE),
        st.sampled_from(PRODUCERS + ["alice"]),
        amounts,
    ),
    st.tuples(st.just("withdraw"), st.sampled_from(EVERYONE), st.none(), st.none()),
    st.tuples(st.just("register"), st.sampled_from(USERS), st.none(), st.none()),
    st.tuples(st.just("unjail"), st.sampled_from(PRODUCERS + ["alice"]), st.none(), st.none()),
    st.tuples(st.just("create"), st.sampled_from(USERS), st.just("dave"), st.none()),
    st.tuples(st.just("evidence"), st.sampled_from(USERS), st.sampled_from(PRODUCERS), st.none()),
)
steps = st.lists(
    st.tuples(st.integers(min_value=0, max_value=40), st.lists(operations, max_size=5)),
    min_size=1,
    max_size=25,
)


def build_tx(sim: ChainSim, op: tuple, nonces: dict[str, int]):
    kind, sender, target, amount = op
    if sender not in sim.state.accounts:
        return None
    action = {
        "transfer": lambda: Transfer(target, amount),
        "stake": lambda: Stake(target, amount),
        "unstake": lambda: Unstake(target, amount),
        "withdraw": lambda: Withdraw(),
        "register": lambda: RegisterProducer("https://x.example"),
        "unjail": lambda: Unjail(),
        "create": lambda: CreateAccount(target, key_for(target).public_key),
        "evidence": lambda: DoubleProductionEvidence(*double_sign(sim, target, max(1, sim.state.slot))),
    }[kind]()
    nonce = nonces.get(sender, sim.state.accounts[sender].nonce)
    nonces[sender] = nonce + 1
    return make_tx(sim.state, sender, action, nonce=nonce)


@settings(max_examples=EXAMPLES, deadline=None)
@given(steps)
def test_supply_conservation_and_deterministic_roots(plan) -> None:
    genesis = make_genesis(params=small_params(liveness_window=6, jail_slots=20, unbonding_slots=10))
    sim = ChainSim(genesis)
    supply = genesis.initial_supply
    for skip, ops in plan:
        nonces: dict[str, int] = {}
        txs = [tx for op in ops if (tx := build_tx(sim, op, nonces)) is not None]
        sim.produce(sim.state.slot + 1 + skip, txs)
        meta = sim.state.chain
        assert compute_total_supply(sim.state) == supply + meta.minted - meta.burned
        assert all(a.balance >= 0 for a in sim.state.accounts.rows.values())
    assert compute_state_root(sim.state) == compute_full_state_root(sim.state)

    replay = create_genesis_state(genesis)
    for block in sim.blocks:
        state_transition(replay, block)
    assert compute_state_root(replay) == compute_state_root(sim.state)

    store = Store(create_genesis_state(genesis))
    for block in sim.blocks:
        store.on_block(block)
    assert compute_state_root(store.state) == compute_state_root(sim.state)
