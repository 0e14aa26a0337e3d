"""A self-contained chain demo: three producers run the DPoS chain in one process.

It shows the state machine at work on a terminal: blocks, transfers, a producer that goes
offline, its missed slots, its jailing and the schedule change that follows.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass

from rich.console import Console
from rich.live import Live
from rich.table import Table

from chain.core import (
    ChainParams,
    Genesis,
    GenesisAccount,
    GenesisProducer,
    PrivateKey,
    SignatureCache,
    State,
    Transaction,
    build_block,
    create_genesis_state,
    format_amount,
    state_transition,
)
from chain.core.containers import Transfer
from chain.core.schedule import get_scheduled_producer
from chain.core.transition import compute_timestamp
from chain.core.types import AccountName, Amount, PublicKey, Timestamp
from service_shell.keys import generate_private_key

PRODUCERS = ("alpha", "beta", "gamma")
USERS = ("alice", "bob", "carol")


@dataclass
class DemoResult:
    blocks: int
    missed: int
    jailed: list[str]
    schedule: tuple[str, ...]


def demo_genesis(keys: dict[str, PrivateKey]) -> Genesis:
    """Every account funded, the producers staked, a short liveness window and jail."""
    return Genesis(
        genesis_time=Timestamp(0),
        accounts=tuple(
            GenesisAccount(AccountName(n), PublicKey(keys[n].public_key), Amount(1_000_000_0000))
            for n in keys
        ),
        producers=tuple(GenesisProducer(AccountName(n), Amount(100_000_0000)) for n in PRODUCERS),
        params=ChainParams(liveness_window=24, jail_slots=60, unbonding_slots=60),
    )


def random_transfers(
    state: State, slot: int, keys: dict[str, PrivateKey], nonces: dict[str, int], rng: random.Random
) -> list[Transaction]:
    """Zero to four signed transfers between the users for the block of ``slot``."""
    txs = []
    for _ in range(rng.randint(0, 4)):
        sender, to = rng.sample(USERS, 2)
        tx = Transaction(
            chain_id=state.chain_id,
            sender=AccountName(sender),
            nonce=nonces[sender],
            fee=Amount(10),
            expiration=Timestamp(compute_timestamp(state, slot) + 60_000),
            action=Transfer(AccountName(to), Amount(rng.randint(1, 100_0000))),
        ).sign(keys[sender])
        nonces[sender] += 1
        txs.append(tx)
    return txs


def jailed(state: State) -> set[str]:
    """The producers in jail."""
    return {n for n, p in state.producers.items() if p.jailed}


def run_chain_demo(
    slots: int = 150,
    offline: str = "gamma",
    offline_after: int = 30,
    delay: float = 0.0,
    console: Console | None = None,
) -> DemoResult:
    """Run ``slots`` slots; ``offline`` stops producing after slot ``offline_after``."""
    console = console or Console()
    keys: dict[str, PrivateKey] = {n: generate_private_key() for n in PRODUCERS + USERS}
    state = create_genesis_state(demo_genesis(keys))
    cache = SignatureCache()
    rng = random.Random()
    nonces = dict.fromkeys(USERS, 0)
    produced = missed = 0
    table = Table(title="bppool chain demo (in-process, 3 producers)")
    for column in ("slot", "producer", "height", "txs", "LIB", "schedule", "note"):
        table.add_column(column)
    with Live(table, console=console, refresh_per_second=8, transient=False):
        for slot in range(1, slots + 1):
            producer = get_scheduled_producer(state, slot)
            if producer == offline and slot > offline_after:
                missed += 1
                continue
            txs = random_transfers(state, slot, keys, nonces, rng)
            jailed_before = jailed(state)
            built = build_block(state, slot=slot, producer=producer, transactions=txs, sig_cache=cache)
            block = built.block.signed_by_producer(keys[producer])
            state_transition(state, block, cache)
            produced += 1
            note = ", ".join(f"{n} jailed" for n in sorted(jailed(state) - jailed_before))
            if slot % 12 == 0 or note:
                meta = state.chain
                row = (slot, producer, meta.height, len(block.transactions), meta.lib_height)
                table.add_row(*map(str, row), ",".join(meta.schedule), note)
            if delay:
                time.sleep(delay)
    meta = state.chain
    console.print(
        f"[bold]{produced}[/] blocks, [bold]{missed}[/] missed slots, "
        f"supply minted {format_amount(meta.minted)}, burned {format_amount(meta.burned)}; "
        f"final schedule {', '.join(meta.schedule)} (version {meta.schedule_version})"
    )
    return DemoResult(produced, missed, sorted(jailed(state)), meta.schedule)
