"""Chain factories: deterministic keys, genesis documents and a block-producing simulator."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from chain.core import (
    Block,
    PrivateKey,
    SignatureCache,
    State,
    Transaction,
    build_block,
    compute_timestamp,
    create_genesis_state,
    state_transition,
)
from chain.core.containers import Action, BlockHeader, SignedHeader, Transfer
from chain.core.crypto import DOMAIN_BLOCK
from chain.core.params import ChainParams, Genesis, GenesisAccount, GenesisProducer
from chain.core.schedule import get_scheduled_producer

GENESIS_TIME = 1_700_000_000_000


def key_for(name: str) -> PrivateKey:
    """A deterministic test key for an account name (tests only)."""
    return PrivateKey(hashlib.sha256(b"bppool-test-key/" + name.encode()).digest())


def make_genesis(
    producers: Sequence[str] = ("alpha", "beta", "gamma"),
    accounts: Iterable[str] = ("alice", "bob", "carol"),
    *,
    balance: int = 1_000_000_0000,
    stake: int = 100_000_0000,
    params: ChainParams | None = None,
) -> Genesis:
    """A genesis with the given producers (staked) and funded accounts."""
    names = list(dict.fromkeys([*producers, *accounts]))
    return Genesis(
        genesis_time=GENESIS_TIME,
        accounts=tuple(GenesisAccount(n, key_for(n).public_key, balance) for n in names),  # type: ignore[arg-type]
        producers=tuple(GenesisProducer(p, stake) for p in producers),  # type: ignore[arg-type]
        params=params or ChainParams(),
    )


def sign_tx(
    chain_id: str,
    sender: str,
    action: Action,
    *,
    nonce: int,
    expiration: int,
    fee: int = 10,
    key: PrivateKey | None = None,
) -> Transaction:
    """``sender``'s transaction, signed with ``key`` (by default ``sender``'s test key)."""
    return Transaction(
        chain_id=chain_id,  # type: ignore[arg-type]
        sender=sender,  # type: ignore[arg-type]
        nonce=nonce,
        fee=fee,  # type: ignore[arg-type]
        expiration=expiration,  # type: ignore[arg-type]
        action=action,
    ).sign(key or key_for(sender))


def make_tx(
    state: State,
    sender: str,
    action: Action,
    *,
    nonce: int | None = None,
    fee: int = 10,
    expiration: int | None = None,
    key: PrivateKey | None = None,
    chain_id: str | None = None,
) -> Transaction:
    """A signed transaction from ``sender`` valid on top of ``state``."""
    if nonce is None:
        account = state.accounts.get(sender)
        nonce = account.nonce if account else 0
    if expiration is None:
        expiration = compute_timestamp(state, state.slot) + 1_800_000
    chain_id = chain_id or state.chain_id
    return sign_tx(chain_id, sender, action, nonce=nonce, expiration=expiration, fee=fee, key=key)


def transfer(state: State, sender: str, to: str, amount: int, **kw: object) -> Transaction:
    """A signed transfer."""
    return make_tx(state, sender, Transfer(to=to, amount=amount), **kw)  # type: ignore[arg-type]


@dataclass
class ChainSim:
    """Drives a chain from genesis: builds, signs and applies blocks slot by slot."""

    genesis: Genesis
    state: State = field(init=False)
    cache: SignatureCache = field(default_factory=SignatureCache)
    blocks: list[Block] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.state = create_genesis_state(self.genesis)

    def producer_at(self, slot: int) -> str:
        return get_scheduled_producer(self.state, slot)

    def make_block(self, slot: int, txs: Sequence[Transaction] = (), *, builder: str | None = None) -> Block:
        """Build and sign (but do not apply) the block for ``slot``."""
        producer = self.producer_at(slot)
        built = build_block(
            self.state,
            slot=slot,
            producer=producer,
            builder=builder,
            transactions=txs,
            sig_cache=self.cache,
        )
        block = built.block
        if builder and builder != producer:
            block = block.signed_by_builder(key_for(builder))
        return block.signed_by_producer(key_for(producer))

    def produce(self, slot: int | None = None, txs: Sequence[Transaction] = (), **kw: object) -> Block:
        """Build, sign and apply the block for ``slot`` (default: the next slot)."""
        slot = self.state.slot + 1 if slot is None else slot
        block = self.make_block(slot, txs, **kw)  # type: ignore[arg-type]
        state_transition(self.state, block, self.cache)
        self.blocks.append(block)
        return block

    def next_slot_of(self, producer: str, after: int | None = None) -> int:
        """The next slot owned by ``producer``."""
        start = (self.state.slot if after is None else after) + 1
        for slot in range(start, start + 2 * 125 * 12):
            if self.producer_at(slot) == producer:
                return slot
        raise LookupError(f"{producer} is not scheduled in the next two rounds")

    def produce_all_but(self, absent: str, until: int) -> None:
        """Produce every slot up to ``until`` except those of ``absent`` (which it misses)."""
        for slot in range(self.state.slot + 1, until + 1):
            if self.producer_at(slot) != absent:
                self.produce(slot)

    def produce_until_jailed(self, absent: str) -> int:
        """From genesis, produce every slot but ``absent``'s until ``absent`` is jailed; the
        last slot gone through."""
        slot = 0
        while not self.state.producers[absent].jailed:
            slot += 1
            if self.producer_at(slot) != absent:
                self.produce(slot)
        return slot


def double_sign(sim: ChainSim, producer: str, slot: int) -> tuple[SignedHeader, SignedHeader]:
    """Two different headers for ``slot`` both signed by ``producer`` (double production)."""
    headers = []
    for n in range(2):
        header = BlockHeader(
            chain_id=sim.state.chain_id,
            height=sim.state.height + 1,  # type: ignore[arg-type]
            slot=slot,  # type: ignore[arg-type]
            prev_id=sim.state.head_id,
            timestamp=compute_timestamp(sim.state, slot),
            producer=producer,  # type: ignore[arg-type]
            builder=producer,  # type: ignore[arg-type]
            tx_root="00" * 32,  # type: ignore[arg-type]
            state_root=f"{n:02x}" * 32,  # type: ignore[arg-type]
        )
        headers.append(SignedHeader(header, key_for(producer).sign(DOMAIN_BLOCK, header.canonical)))
    return headers[0], headers[1]
