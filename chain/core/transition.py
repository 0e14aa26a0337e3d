"""The state transition: ``state_transition(state, block)`` and block building.

Reads like consensus-specs: ``process_slots`` advances the state to the block's slot,
accounting every skipped scheduled slot; ``process_block_header`` does the cheap checks;
``verify_block_signatures`` the producer's (and builder's) ed25519 checks;
``process_transactions`` applies each transaction; then the block reward and fees are paid,
the producer's liveness and the LIB are updated, the next schedule is proposed, and the state
root is checked. Any failure reverts the state to exactly what it was before the block.

The cheap header checks run before the signatures (mev-boost-relay's "cheapest first"),
which is the only departure from the order DESIGN.md lists.

Spec: ``docs/spec/transition.md`` §6 (the transition) and §7 (building a block).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from . import actions as _actions  # noqa: F401  (registers the core processors)
from .containers import Block, BlockHeader, Transaction
from .crypto import DOMAIN_BLOCK, DOMAIN_CANDIDATE, DOMAIN_TX, verify_signature
from .errors import (
    BadBuilderSignature,
    BadProducerSignature,
    BlockTooLarge,
    ExpirationTooFar,
    FeeTooLow,
    InsufficientBalance,
    InvalidTransaction,
    NonceMismatch,
    StateRootMismatch,
    TransactionExpired,
    TxRootMismatch,
    UnknownAccount,
    WrongChain,
    WrongChainId,
    WrongHeight,
    WrongParent,
    WrongProducer,
    WrongSlot,
    WrongTimestamp,
)
from .helpers import increase_balance, record_minted, set_meta
from .merkle import compute_merkle_root_of_leaf_hashes
from .params import ChainParams
from .registry import END_BLOCK_HOOKS, PROCESSORS, BlockContext
from .schedule import (
    compute_desired_schedule,
    compute_lib_height,
    compute_round_length,
    compute_slot_owner,
    get_scheduled_producer,
    is_pending_irreversible,
)
from .sigcache import SignatureCache, verify_transaction_signature
from .staking import process_missed_slot, process_produced_slot
from .state import Account, BlockRef, State, UndoLog, compute_state_root
from .types import AccountName, Hash32, Height, Slot, Timestamp

# --- helpers -------------------------------------------------------------------------------


def compute_timestamp(state: State, slot: int) -> Timestamp:
    """The timestamp of ``slot``: genesis time plus ``slot`` slot lengths (ms)."""
    return Timestamp(state.genesis_time + slot * state.params.slot_ms)


def compute_slot_at(genesis_time: int, slot_ms: int, now_ms: int) -> Slot:
    """The slot in progress at wall-clock ``now_ms`` (0 before genesis)."""
    return Slot(max(0, (now_ms - genesis_time) // slot_ms))


def compute_tx_root(transactions: Iterable[Transaction]) -> Hash32:
    """Merkle root over ``id || signature`` of each transaction, in block order (each
    transaction's leaf hash is computed once and kept on it)."""
    return compute_merkle_root_of_leaf_hashes([tx.leaf_hash for tx in transactions])


def compute_producer_income(block: Block, params: ChainParams) -> int:
    """What a block pays its producer: the block reward, every transaction fee and every
    account creation fee (``process_block_rewards`` and ``process_create_account``)."""
    creations = sum(1 for tx in block.transactions if tx.action.TYPE == "create_account")
    return params.block_reward + block.total_fees + creations * params.account_creation_fee


# --- slots ---------------------------------------------------------------------------------


def process_slots(state: State, slot: int) -> None:
    """Advance to ``slot``: activate a due schedule at round boundaries and account every
    skipped slot as missed by its scheduled producer."""
    meta = state.chain
    # Verify the slot moves forward
    if slot <= meta.slot:
        raise WrongSlot(f"slot {slot} is not after the head's slot {meta.slot}")
    reps = state.params.producer_repetitions
    for s in range(meta.slot + 1, slot + 1):
        meta = state.chain
        if is_pending_irreversible(meta) and s % compute_round_length(state, meta.schedule) == 0:
            meta = meta._replace(
                schedule=meta.pending_schedule,
                schedule_version=meta.schedule_version + 1,
                pending_schedule=(),
                pending_height=0,
            )
            set_meta(state, meta)
        if s < slot:
            process_missed_slot(state, compute_slot_owner(meta.schedule, s, reps), s)
    set_meta(state, state.chain._replace(slot=slot))


# --- block ---------------------------------------------------------------------------------


def process_block_header(state: State, block: Block) -> None:
    """Check the header against the state (after ``process_slots``) and advance the height."""
    header = block.header
    meta = state.chain
    # Verify the chain id
    if header.chain_id != state.chain_id:
        raise WrongChain(f"block is for chain {header.chain_id[:16]}…, not {state.chain_id[:16]}…")
    # Verify the height follows the head
    if header.height != meta.height + 1:
        raise WrongHeight(f"height {header.height} does not follow the head's {meta.height}")
    # Verify the parent is the head
    if header.prev_id != state.head_id:
        raise WrongParent(f"prev_id {header.prev_id[:16]}… is not the head {state.head_id[:16]}…")
    # Verify the timestamp is the slot's
    expected = compute_timestamp(state, header.slot)
    if header.timestamp != expected:
        raise WrongTimestamp(f"timestamp {header.timestamp} is not slot {header.slot}'s {expected}")
    # Verify the producer is scheduled for the slot
    owner = compute_slot_owner(meta.schedule, header.slot, state.params.producer_repetitions)
    if header.producer != owner:
        raise WrongProducer(f"slot {header.slot} belongs to {owner}, not {header.producer}")
    # Verify the block is not too large
    if len(block.transactions) > state.params.max_block_transactions:
        raise BlockTooLarge(
            f"{len(block.transactions)} transactions exceed {state.params.max_block_transactions}"
        )
    set_meta(state, meta._replace(height=header.height))


def verify_block_signatures(state: State, block: Block, *, producer_signature: bool = True) -> None:
    """Check the producer's signature (unless a candidate) and the builder's when another
    account built the block."""
    header = block.header
    if producer_signature:
        producer = state.accounts.rows.get(header.producer)
        # Verify the producer signed the header
        if producer is None or not verify_signature(
            producer.key, DOMAIN_BLOCK, header.canonical, block.producer_signature
        ):
            raise BadProducerSignature(f"producer signature does not verify for {header.producer}")
    if header.builder != header.producer:
        builder = state.accounts.rows.get(header.builder)
        # Verify the builder exists and signed the header
        if builder is None:
            raise BadBuilderSignature(f"builder {header.builder} is not an account")
        if not block.builder_signature or not verify_signature(
            builder.key, DOMAIN_CANDIDATE, header.canonical, block.builder_signature
        ):
            raise BadBuilderSignature(f"builder signature does not verify for {header.builder}")
    elif block.builder_signature is not None:
        # Verify a self-built block carries no builder signature
        raise BadBuilderSignature("a block built by its producer carries no builder signature")


def process_transaction(
    state: State, tx: Transaction, ctx: BlockContext, sig_cache: SignatureCache | None = None
) -> None:
    """Check and apply one transaction: fee and nonce first, then its action."""
    params = state.params
    # Verify the chain id
    if tx.chain_id != state.chain_id:
        raise WrongChainId(f"transaction is for chain {tx.chain_id[:16]}…, not this chain")
    # Verify the transaction has not expired
    if tx.expiration < ctx.header.timestamp:
        raise TransactionExpired(f"transaction expired at {tx.expiration}")
    # Verify the expiration is within the maximum lifetime
    if tx.expiration - ctx.header.timestamp > params.max_tx_lifetime_ms:
        raise ExpirationTooFar(f"expiration is more than {params.max_tx_lifetime_ms} ms after the block time")
    # Verify the sender exists
    account = state.accounts.rows.get(tx.sender)
    if account is None:
        raise UnknownAccount(f"sender {tx.sender} does not exist")
    # Verify the nonce
    if tx.nonce != account.nonce:
        raise NonceMismatch(f"nonce {tx.nonce} but {tx.sender}'s next nonce is {account.nonce}")
    # Verify the fee is at least the minimum
    if tx.fee < params.min_fee:
        raise FeeTooLow(f"fee {tx.fee} is below the minimum {params.min_fee}")
    # Verify the sender can pay the fee
    if account.balance < tx.fee:
        raise InsufficientBalance(f"{tx.sender} has {account.balance}, the fee is {tx.fee}")
    # Verify the signature
    verify_transaction_signature(tx, account.key, sig_cache)
    state.accounts.put(tx.sender, Account(account.key, account.balance - tx.fee, account.nonce + 1))
    PROCESSORS[tx.action.TYPE](state, tx, tx.action, ctx)
    ctx.fees += tx.fee


def preverify_signatures(state: State, transactions: Iterable[Transaction], cache: SignatureCache) -> None:
    """Verify, in one tight pass, the signatures of transactions whose sender already exists.

    Account keys never change once an account exists, so a verdict under the sender's key at
    the start of the block holds wherever the transaction sits in it. Failures are not raised
    here: ``process_transaction`` reports them in block order. Running the ed25519 checks
    back to back keeps both them and the state code warm in the CPU caches.
    """
    accounts = state.accounts.rows
    for tx in transactions:
        account = accounts.get(tx.sender)
        if account is None or cache.is_verified(tx, account.key):
            continue
        if tx.signature and verify_signature(account.key, DOMAIN_TX, tx.body_bytes, tx.signature):
            cache.add(tx, account.key)


def process_transactions(
    state: State, block: Block, ctx: BlockContext, sig_cache: SignatureCache | None = None
) -> None:
    """Check the transaction root and apply every transaction in order."""
    # Verify the transaction root
    if compute_tx_root(block.transactions) != block.header.tx_root:
        raise TxRootMismatch("tx_root does not match the block's transactions")
    cache = sig_cache if sig_cache is not None else SignatureCache(len(block.transactions) + 1)
    preverify_signatures(state, block.transactions, cache)
    for index, tx in enumerate(block.transactions):
        try:
            process_transaction(state, tx, ctx, cache)
        except InvalidTransaction as exc:
            raise type(exc)(f"transaction {index} ({tx.id[:16]}…): {exc.message}") from None


def process_end_block(state: State, ctx: BlockContext) -> None:
    """Run the registered end-of-block hooks (execution timeouts and the like)."""
    for hook in END_BLOCK_HOOKS:
        hook(state, ctx)


def process_block_rewards(state: State, ctx: BlockContext) -> None:
    """Mint the block reward and pay it with the collected fees to the producer."""
    reward = state.params.block_reward
    increase_balance(state, ctx.header.producer, reward + ctx.fees)
    record_minted(state, reward)


def process_production(state: State, header: BlockHeader) -> None:
    """Record the producer's slot as produced and advance the LIB."""
    process_produced_slot(state, header.producer, header.height)
    meta = state.chain
    lib = compute_lib_height(state)
    if lib != meta.lib_height:
        set_meta(state, meta._replace(lib_height=lib))


def process_schedule(state: State) -> None:
    """Propose the desired schedule when it differs from the active one."""
    meta = state.chain
    desired = compute_desired_schedule(state)
    if not desired:
        return
    if desired == meta.schedule:
        if meta.pending_schedule:
            set_meta(state, meta._replace(pending_schedule=(), pending_height=0))
        return
    if desired != meta.pending_schedule:
        set_meta(state, meta._replace(pending_schedule=desired, pending_height=meta.height))


def process_block_body(
    state: State, block: Block, ctx: BlockContext, sig_cache: SignatureCache | None
) -> None:
    """Everything after the signatures: transactions, hooks, rewards, liveness, schedule."""
    process_transactions(state, block, ctx, sig_cache)
    process_block_end(state, ctx)


def process_block_end(state: State, ctx: BlockContext) -> None:
    """Everything after the transactions: hooks, rewards, liveness, schedule."""
    process_end_block(state, ctx)
    process_block_rewards(state, ctx)
    process_production(state, ctx.header)
    process_schedule(state)


def _record_block(state: State, block: Block, lib_before: int) -> None:
    header = block.header
    state.blocks.put(str(header.height), BlockRef(header.id, header.slot))
    for height in range(lib_before, state.chain.lib_height):
        state.blocks.delete(str(height))


def state_transition(
    state: State,
    block: Block,
    sig_cache: SignatureCache | None = None,
    *,
    producer_signature: bool = True,
) -> UndoLog:
    """Apply ``block`` to ``state`` or raise, leaving ``state`` untouched.

    Returns the block's undo log (for fork choice). With ``producer_signature=False`` a
    member's candidate (not yet signed by the pool) is validated.
    """
    checkpoint = state.checkpoint()
    lib_before = state.chain.lib_height
    try:
        process_slots(state, block.header.slot)
        process_block_header(state, block)
        verify_block_signatures(state, block, producer_signature=producer_signature)
        process_block_body(state, block, BlockContext(block.header), sig_cache)
        # Verify the state root
        root = compute_state_root(state)
        if root != block.header.state_root:
            raise StateRootMismatch(
                f"state root {block.header.state_root[:16]}… but the block results in {root[:16]}…"
            )
        _record_block(state, block, lib_before)
    except BaseException:
        state.revert(checkpoint)
        raise
    return state.take_journal(checkpoint)


# --- building ------------------------------------------------------------------------------


@dataclass
class BuiltBlock:
    """A block assembled from candidate transactions, with those that were left out, and,
    when built with ``keep=True``, the undo log of the block now applied to the state."""

    block: Block
    rejected: list[tuple[Transaction, InvalidTransaction]] = field(default_factory=list)
    undo: UndoLog | None = None


def compute_provisional_header(state: State, slot: int, producer: str, builder: str | None) -> BlockHeader:
    """The header of a block being built for ``slot`` on ``state`` (after ``process_slots``),
    without its roots yet."""
    owner = get_scheduled_producer(state, slot)
    # Verify the producer owns the slot
    if owner != producer:
        raise WrongProducer(f"slot {slot} belongs to {owner}, not {producer}")
    return BlockHeader(
        chain_id=state.chain_id,
        height=Height(state.chain.height + 1),
        slot=Slot(slot),
        prev_id=state.head_id,
        timestamp=compute_timestamp(state, slot),
        producer=AccountName(producer),
        builder=AccountName(builder or producer),
        tx_root=Hash32(""),
        state_root=Hash32(""),
    )


def include_transactions(
    state: State,
    ctx: BlockContext,
    transactions: Iterable[Transaction],
    limit: int,
    sig_cache: SignatureCache | None,
) -> tuple[list[Transaction], list[tuple[Transaction, InvalidTransaction]]]:
    """Apply ``transactions`` in order, up to ``limit``; those that fail are reverted and
    returned apart: ``(included, rejected)``."""
    included: list[Transaction] = []
    rejected: list[tuple[Transaction, InvalidTransaction]] = []
    for tx in transactions:
        if len(included) >= limit:
            break
        tx_checkpoint, fees = state.checkpoint(), ctx.fees
        try:
            process_transaction(state, tx, ctx, sig_cache)
        except InvalidTransaction as exc:
            # The context is not journaled: restore what the transaction collected.
            state.revert(tx_checkpoint)
            ctx.fees = fees
            rejected.append((tx, exc))
        else:
            included.append(tx)
    return included, rejected


def build_block(
    state: State,
    *,
    slot: int,
    producer: str,
    builder: str | None = None,
    transactions: Iterable[Transaction] = (),
    sig_cache: SignatureCache | None = None,
    max_transactions: int | None = None,
    keep: bool = False,
) -> BuiltBlock:
    """Assemble an unsigned block for ``slot`` on top of ``state`` from ``transactions``
    (in the given order), skipping the ones that fail.

    The state is left unchanged, unless ``keep``: then the block stays applied (exactly as
    ``state_transition`` would leave it) and its undo log is returned, so a producer does not
    apply its own block twice (see ``Store.adopt``).
    """
    limit = state.params.max_block_transactions if max_transactions is None else max_transactions
    checkpoint = state.checkpoint()
    lib_before = state.chain.lib_height
    kept = False
    try:
        process_slots(state, slot)
        provisional = compute_provisional_header(state, slot, producer, builder)
        set_meta(state, state.chain._replace(height=provisional.height))
        ctx = BlockContext(provisional)
        included, rejected = include_transactions(state, ctx, transactions, limit, sig_cache)
        process_block_end(state, ctx)
        root = compute_state_root(state)
        header = replace(provisional, tx_root=compute_tx_root(included), state_root=root)
        block = Block(header=header, transactions=tuple(included))
        if keep:
            _record_block(state, block, lib_before)
            kept = True
            return BuiltBlock(block, rejected, state.take_journal(checkpoint))
    finally:
        if not kept:
            state.revert(checkpoint)
    return BuiltBlock(block, rejected)
