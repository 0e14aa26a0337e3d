"""The state at genesis (height 0, slot 0; its block id is the chain id).

Spec: ``docs/spec/state.md`` §9 (genesis to state).
"""

from __future__ import annotations

from .params import Genesis
from .schedule import compute_desired_schedule
from .state import Account, BlockRef, ChainMeta, State, compute_state_root, new_producer


def create_genesis_state(genesis: Genesis) -> State:
    """Build the state a chain starts from; the journal is empty afterwards."""
    state = State(genesis.chain_id, genesis.params, genesis.symbol, genesis.genesis_time)
    for account in genesis.accounts:
        state.accounts.put(account.name, Account(account.key, account.balance, 0))
    for producer in genesis.producers:
        state.producers.put(producer.name, new_producer(producer.url, producer.name, producer.stake))
    state.meta.put(
        "chain",
        ChainMeta(
            height=0,
            slot=0,
            lib_height=0,
            schedule_version=1,
            schedule=(),
            pending_schedule=(),
            pending_height=0,
            minted=0,
            burned=0,
        ),
    )
    state.meta.put("chain", state.chain._replace(schedule=compute_desired_schedule(state)))
    state.blocks.put("0", BlockRef(genesis.chain_id, 0))
    compute_state_root(state)
    state.clear_journal()
    return state
