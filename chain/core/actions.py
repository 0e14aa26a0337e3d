"""Processors of the core actions: accounts, producers, staking, jail and evidence.

Each ``process_*`` checks, with one comment per check, then mutates. A processor that
raises leaves partial writes behind; the caller reverts to its checkpoint.

Spec: ``docs/spec/transition.md`` §6 (what each action does).
"""

from __future__ import annotations

from .containers import (
    CreateAccount,
    DoubleProductionEvidence,
    RegisterProducer,
    Stake,
    Transaction,
    Transfer,
    Unjail,
    Unstake,
    Withdraw,
)
from .crypto import DOMAIN_BLOCK, verify_signature
from .errors import (
    AccountExists,
    InsufficientBalance,
    InsufficientStake,
    InvalidAccountName,
    InvalidEvidence,
    MalformedTransaction,
    NothingToWithdraw,
    NotJailed,
    StillJailed,
    Tombstoned,
    UnknownAccount,
)
from .helpers import decrease_balance, get_account, get_producer, increase_balance
from .registry import BlockContext, register_processor
from .staking import (
    add_unbonding_entry,
    get_delegation,
    jail_producer,
    set_delegation,
    slash_producer,
)
from .state import Account, State, Unbonding, new_producer
from .types import is_valid_account_name

JAILED_FOREVER = 2**62


@register_processor(Transfer)
def process_transfer(state: State, tx: Transaction, action: Transfer, ctx: BlockContext) -> None:
    """Move tokens from the sender to the recipient."""
    # Verify the memo fits
    if len(action.memo) > state.params.max_memo_length:
        raise MalformedTransaction(f"memo longer than {state.params.max_memo_length} characters")
    accounts = state.accounts
    rows = accounts.rows
    # Verify the recipient exists
    if action.to not in rows:
        raise UnknownAccount(f"account {action.to} does not exist")
    # Verify the sender can pay (after the fee)
    sender = rows[tx.sender]
    amount = action.amount
    if sender.balance < amount:
        raise InsufficientBalance(
            f"{tx.sender} has {sender.balance} but the transfer needs {amount} (smallest units)"
        )
    # The hot path of every benchmark: two puts, no helper calls.
    accounts.put(tx.sender, Account(sender.key, sender.balance - amount, sender.nonce))
    recipient = rows[action.to]
    accounts.put(action.to, Account(recipient.key, recipient.balance + amount, recipient.nonce))


@register_processor(CreateAccount)
def process_create_account(state: State, tx: Transaction, action: CreateAccount, ctx: BlockContext) -> None:
    """Create a new account; the creation fee goes to the block producer with the fees."""
    # Verify the name is an account name (the one place the chain creates a name)
    if not is_valid_account_name(action.name):
        raise InvalidAccountName(f"action.name: {action.name!r} is not a valid account name")
    # Verify the name is free
    if action.name in state.accounts:
        raise AccountExists(f"account {action.name} already exists")
    # Verify the sender can pay the creation fee
    fee = state.params.account_creation_fee
    decrease_balance(state, tx.sender, fee, what="the account creation fee")
    ctx.fees += fee
    state.accounts.put(action.name, Account(action.key, 0, 0))


@register_processor(RegisterProducer)
def process_register_producer(
    state: State, tx: Transaction, action: RegisterProducer, ctx: BlockContext
) -> None:
    """Register the sender as a producer, or update its URL."""
    existing = state.producers.rows.get(tx.sender)
    if existing is not None:
        # Verify a tombstoned producer does not come back
        if existing.tombstoned:
            raise Tombstoned(f"{tx.sender} is tombstoned and cannot register again")
        state.producers.put(tx.sender, existing._replace(url=action.url))
        return
    state.producers.put(tx.sender, new_producer(action.url))


@register_processor(Stake)
def process_stake(state: State, tx: Transaction, action: Stake, ctx: BlockContext) -> None:
    """Delegate part of the sender's balance to a producer."""
    # Verify the producer exists
    producer = get_producer(state, action.producer)
    # Verify the producer is not tombstoned
    if producer.tombstoned:
        raise Tombstoned(f"{action.producer} is tombstoned; stake elsewhere")
    # Verify the sender can pay
    decrease_balance(state, tx.sender, action.amount, what="the stake")
    current = get_delegation(state, action.producer, tx.sender)
    set_delegation(state, action.producer, tx.sender, current + action.amount)


@register_processor(Unstake)
def process_unstake(state: State, tx: Transaction, action: Unstake, ctx: BlockContext) -> None:
    """Move part of a delegation into an unbonding entry."""
    # Verify the producer exists
    get_producer(state, action.producer)
    # Verify the delegation covers the amount
    current = get_delegation(state, action.producer, tx.sender)
    if current < action.amount:
        raise InsufficientStake(
            f"{tx.sender} has {current} delegated to {action.producer}, cannot unstake {action.amount}"
        )
    set_delegation(state, action.producer, tx.sender, current - action.amount)
    add_unbonding_entry(state, tx.sender, action.producer, action.amount, ctx.slot)


@register_processor(Withdraw)
def process_withdraw(state: State, tx: Transaction, action: Withdraw, ctx: BlockContext) -> None:
    """Return the sender's matured unbonding entries to its balance."""
    record = state.unbonding.rows.get(tx.sender)
    # Verify the sender is unbonding anything
    if record is None:
        raise NothingToWithdraw(f"{tx.sender} has no unbonding entry")
    # Verify something has matured
    matured = [e for e in record.entries if e[3] <= ctx.slot]
    if not matured:
        pending = min(e[3] for e in record.entries)
        raise NothingToWithdraw(
            f"{tx.sender} has no matured unbonding entry; the next matures at slot {pending}"
        )
    remaining = tuple(e for e in record.entries if e[3] > ctx.slot)
    if remaining:
        state.unbonding.put(tx.sender, Unbonding(remaining))
    else:
        state.unbonding.delete(tx.sender)
    increase_balance(state, tx.sender, sum(e[1] for e in matured))


@register_processor(Unjail)
def process_unjail(state: State, tx: Transaction, action: Unjail, ctx: BlockContext) -> None:
    """Release the sending producer from jail."""
    producer = get_producer(state, tx.sender)
    # Verify the producer is jailed
    if not producer.jailed:
        raise NotJailed(f"{tx.sender} is not jailed")
    # Verify the producer is not tombstoned
    if producer.tombstoned:
        raise Tombstoned(f"{tx.sender} is tombstoned and can never be unjailed")
    # Verify the jail period is over
    if ctx.slot < producer.jailed_until:
        raise StillJailed(f"{tx.sender} is jailed until slot {producer.jailed_until} (now {ctx.slot})")
    state.producers.put(tx.sender, producer._replace(jailed=False, jailed_until=0))


@register_processor(DoubleProductionEvidence)
def process_evidence(
    state: State, tx: Transaction, action: DoubleProductionEvidence, ctx: BlockContext
) -> None:
    """Slash and tombstone a producer that signed two blocks for one slot."""
    first, second = action.first.header, action.second.header
    # Verify both headers belong to this chain
    if first.chain_id != state.chain_id or second.chain_id != state.chain_id:
        raise InvalidEvidence("evidence headers are not from this chain")
    # Verify both headers are for the same slot and producer
    if first.slot != second.slot or first.producer != second.producer:
        raise InvalidEvidence("evidence headers differ in slot or producer")
    # Verify the headers are different blocks
    if first.id == second.id:
        raise InvalidEvidence("evidence headers are the same block")
    # Verify the evidence is recent enough
    if ctx.slot - first.slot > state.params.max_evidence_age_slots:
        raise InvalidEvidence(f"evidence older than {state.params.max_evidence_age_slots} slots")
    # Verify the offender is a producer that is not tombstoned already
    producer = get_producer(state, first.producer)
    if producer.tombstoned:
        raise InvalidEvidence(f"{first.producer} is already tombstoned")
    # Verify both producer signatures
    key = get_account(state, first.producer).key
    for signed in (action.first, action.second):
        if not verify_signature(key, DOMAIN_BLOCK, signed.header.canonical, signed.signature):
            raise InvalidEvidence(f"a signature in the evidence is not {first.producer}'s")
    slash_producer(state, first.producer, state.params.double_sign_slash_bps, first.slot)
    jail_producer(state, first.producer, JAILED_FOREVER, tombstone=True)
