"""Small state helpers shared by the ``process_*`` functions.

``get_*`` read the state; ``increase_*`` / ``decrease_*`` / ``set_*`` mutate it.
"""

from __future__ import annotations

from collections.abc import Callable

from .errors import InsufficientBalance, NotAProducer, UnknownAccount
from .state import Account, ChainMeta, Producer, State


def get_account(state: State, name: str) -> Account:
    """The account ``name`` or :class:`UnknownAccount`."""
    account = state.accounts.rows.get(name)
    if account is None:
        raise UnknownAccount(f"account {name} does not exist")
    return account


def get_producer(state: State, name: str) -> Producer:
    """The producer ``name`` or :class:`NotAProducer`."""
    producer = state.producers.rows.get(name)
    if producer is None:
        raise NotAProducer(f"{name} is not a registered producer")
    return producer


def increase_balance(state: State, name: str, amount: int) -> None:
    """Credit ``amount`` to an existing account."""
    account = get_account(state, name)
    state.accounts.put(name, Account(account.key, account.balance + amount, account.nonce))


def decrease_balance(state: State, name: str, amount: int, *, what: str = "amount") -> None:
    """Debit ``amount`` from an account, or raise :class:`InsufficientBalance`."""
    account = get_account(state, name)
    if account.balance < amount:
        raise InsufficientBalance(f"{name} has {account.balance} but {what} needs {amount} (smallest units)")
    state.accounts.put(name, Account(account.key, account.balance - amount, account.nonce))


def set_meta(state: State, meta: ChainMeta) -> None:
    """Replace the chain meta record."""
    state.meta.put("chain", meta)


def record_minted(state: State, amount: int) -> None:
    """Count newly created tokens (block rewards)."""
    meta = state.chain
    set_meta(state, meta._replace(minted=meta.minted + amount))


def record_burned(state: State, amount: int) -> None:
    """Count destroyed tokens (slashes)."""
    if amount:
        meta = state.chain
        set_meta(state, meta._replace(burned=meta.burned + amount))


def compute_total_supply(state: State) -> int:
    """Every token in the state: balances, stakes, unbonding and module escrows."""
    total = sum(a.balance for a in state.accounts.rows.values())
    total += sum(p.stake for p in state.producers.rows.values())
    total += sum(e[1] for u in state.unbonding.rows.values() for e in u.entries)
    for hook in SUPPLY_HOOKS:
        total += hook(state)
    return total


SUPPLY_HOOKS: list[Callable[[State], int]] = []
"""Functions ``(state) -> int`` adding tokens held by other modules (execution escrows)."""
