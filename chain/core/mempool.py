"""The mempool: pending transactions, checked once on arrival, ordered by fee.

A transaction is admitted only if, against the head state, its chain id is right, it has not
expired, its sender exists, its nonce is the sender's next one (after the sender's pending
transactions), the sender can pay the fees and spends of all its pending transactions, and
its signature verifies. The signature verdict goes into the shared
:class:`~chain.core.SignatureCache`, so the block that includes the transaction does not
verify it again.

Selection for a block takes the highest fee first among each sender's next transaction,
keeping every sender's nonces in order; equal fees go in arrival order by the node's sequence
numbers, which the node's followers mirror, so the node and every replica of its mempool
select the same block from the same pending set (and, with ``max_seq``, from the same prefix
of it: the pool emitter names the prefix it expects members to build from). The pool is
bounded: when full, a new transaction must pay more than the cheapest evictable one (the last
pending of some sender).

Pure (time is an argument): the node keeps one, and every follower of a node keeps a replica
(:mod:`chain.client.follower`), which is why it lives in the core rather than in the node.

Spec: ``docs/spec/transition.md`` §8 (selection and the block a pool expects).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable

from .containers import Block, BlockHeader, Transaction
from .errors import (
    DuplicateTransaction,
    ExpirationTooFar,
    FeeTooLow,
    InsufficientBalance,
    InvalidTransaction,
    NonceMismatch,
    TransactionExpired,
    UnknownAccount,
    WrongChainId,
)
from .registry import BlockContext
from .sigcache import SignatureCache, verify_transaction_signature
from .state import State
from .transition import process_transaction
from .txcache import TransactionCache
from .types import AccountName, Hash32, Height, Slot, Timestamp


class MempoolFull(InvalidTransaction):
    code = "mempool_full"


def trial_header(state: State, now_ms: int) -> BlockHeader:
    """A header for the next block on ``state``, used only as context for trial applies."""
    meta = state.chain
    timestamp = max(now_ms, state.genesis_time + (meta.slot + 1) * state.params.slot_ms)
    producer = meta.schedule[0] if meta.schedule else "eosio"
    return BlockHeader(
        chain_id=state.chain_id,
        height=Height(meta.height + 1),
        slot=Slot(meta.slot + 1),
        prev_id=state.head_id,
        timestamp=Timestamp(timestamp),
        producer=AccountName(producer),
        builder=AccountName(producer),
        tx_root=Hash32(""),
        state_root=Hash32(""),
    )


def trial_apply(state: State, tx: Transaction, header: BlockHeader, sig_cache: SignatureCache) -> None:
    """Apply ``tx`` on top of ``state`` in the context of ``header``, then undo it; raises
    what the next block would raise (unknown recipient, missing producer, ...)."""
    checkpoint = state.checkpoint()
    try:
        process_transaction(state, tx, BlockContext(header), sig_cache)
    finally:
        state.revert(checkpoint)


class Mempool:
    """Pending transactions by id, by sender and nonce, with arrival times."""

    def __init__(self, *, max_size: int = 20_000, sig_cache: SignatureCache | None = None) -> None:
        self.max_size = max_size
        self.sig_cache = sig_cache if sig_cache is not None else SignatureCache()
        self.tx_cache = TransactionCache()
        self._txs: dict[str, Transaction] = {}
        self._arrived: dict[str, int] = {}
        self._by_sender: dict[str, dict[int, str]] = {}
        self._trial: tuple[tuple[str, int], BlockHeader] | None = None
        # Arrival sequence numbers, for followers that mirror the pool incrementally.
        self._seq: dict[str, int] = {}
        self.last_seq = 0

    def __len__(self) -> int:
        return len(self._txs)

    def __contains__(self, tx_id: object) -> bool:
        return tx_id in self._txs

    def get(self, tx_id: str) -> Transaction | None:
        return self._txs.get(tx_id)

    def arrival_ms(self, tx_id: str) -> int | None:
        return self._arrived.get(tx_id)

    # --- admission -------------------------------------------------------------------------

    def add(self, tx: Transaction, state: State, now_ms: int, *, seq: int | None = None) -> None:
        """Admit ``tx`` or raise an :class:`InvalidTransaction` naming the failed check.

        ``seq`` is the sequence number the followed node gave the transaction (a replica's
        mempool keeps the node's numbering); by default the next local one."""
        params = state.params
        # Verify the chain id
        if tx.chain_id != state.chain_id:
            raise WrongChainId(f"transaction is for chain {tx.chain_id[:16]}…, not this chain")
        # Verify it is not already pending
        if tx.id in self._txs:
            raise DuplicateTransaction(f"transaction {tx.id[:16]}… is already in the mempool")
        # Verify it has not expired and does not expire too far ahead
        if tx.expiration < now_ms:
            raise TransactionExpired(f"transaction expired at {tx.expiration} (now {now_ms})")
        if tx.expiration - now_ms > params.max_tx_lifetime_ms:
            raise ExpirationTooFar(
                f"expiration is more than {params.max_tx_lifetime_ms} ms ahead of the node's time"
            )
        # Verify the sender exists
        account = state.accounts.get(tx.sender)
        if account is None:
            raise UnknownAccount(f"sender {tx.sender} does not exist")
        # Verify the fee
        if tx.fee < params.min_fee:
            raise FeeTooLow(f"fee {tx.fee} is below the minimum {params.min_fee}")
        # Verify the nonce follows the account and the sender's pending transactions
        pending = self._by_sender.get(tx.sender, {})
        if tx.nonce < account.nonce:
            raise NonceMismatch(
                f"nonce {tx.nonce} was already used by {tx.sender} (next is {account.nonce}): "
                "a replayed or stale transaction"
            )
        if tx.nonce in pending:
            raise DuplicateTransaction(
                f"a transaction with nonce {tx.nonce} from {tx.sender} is already pending"
            )
        expected = self.next_nonce(tx.sender, account.nonce)
        if tx.nonce != expected:
            raise NonceMismatch(f"nonce {tx.nonce} leaves a gap: {tx.sender}'s next nonce is {expected}")
        # Verify the sender can pay this and everything it has pending
        committed = sum(self._txs[i].fee + self._txs[i].action.spend(params) for i in pending.values())
        needed = committed + tx.fee + tx.action.spend(params)
        if account.balance < needed:
            raise InsufficientBalance(
                f"{tx.sender} has {account.balance} but needs {needed} for this and its pending transactions"
            )
        # Verify the signature (once: the verdict is cached for block application)
        verify_transaction_signature(tx, account.key, self.sig_cache)
        # Verify the action would apply now (when nothing from the sender is pending before it)
        if tx.nonce == account.nonce:
            trial_apply(state, tx, self._trial_header(state, now_ms), self.sig_cache)
        # Make room when full
        if len(self._txs) >= self.max_size:
            self._evict_for(tx)
        self._insert(tx, now_ms, seq)

    def next_nonce(self, sender: str, account_nonce: int) -> int:
        """The nonce ``sender``'s next transaction must carry: the lowest one from the
        account's nonce up that is not pending. Usually that is the account's nonce plus its
        pending count; when a pending transaction was dropped (it failed in a block), it is
        the nonce it left free, so the sender can fill the gap and unblock the ones after it.
        """
        pending = self._by_sender.get(sender)
        nonce = account_nonce
        if pending:
            while nonce in pending:
                nonce += 1
        return nonce

    def pending_count(self, sender: str) -> int:
        return len(self._by_sender.get(sender, ()))

    def _trial_header(self, state: State, now_ms: int) -> BlockHeader:
        # One header per head and second: building it costs more than the trial itself.
        key = (state.head_id, now_ms // 1000)
        if self._trial is None or self._trial[0] != key:
            self._trial = (key, trial_header(state, now_ms))
        return self._trial[1]

    def _insert(self, tx: Transaction, now_ms: int, seq: int | None = None) -> None:
        self._txs[tx.id] = tx
        self._arrived[tx.id] = now_ms
        self.last_seq = self.last_seq + 1 if seq is None else max(self.last_seq, seq)
        self._seq[tx.id] = self.last_seq if seq is None else seq
        self._by_sender.setdefault(tx.sender, {})[tx.nonce] = tx.id
        self.tx_cache.put(tx)

    def _evict_for(self, tx: Transaction) -> None:
        # Only a sender's last pending transaction can go without leaving a nonce gap.
        candidates = [
            self._txs[ids[max(ids)]] for sender, ids in self._by_sender.items() if sender != tx.sender
        ]
        cheapest = min(candidates, key=lambda t: (t.fee, -self._arrived[t.id]), default=None)
        if cheapest is None or cheapest.fee >= tx.fee:
            raise MempoolFull(f"the mempool holds {self.max_size} transactions; pay a higher fee")
        self.remove([cheapest.id])

    # --- removal ---------------------------------------------------------------------------

    def remove(self, ids: Iterable[str]) -> None:
        """Drop transactions (included, rejected or evicted)."""
        for tx_id in ids:
            tx = self._txs.pop(tx_id, None)
            if tx is None:
                continue
            self._arrived.pop(tx_id, None)
            self._seq.pop(tx_id, None)
            by_nonce = self._by_sender.get(tx.sender)
            if by_nonce is not None:
                by_nonce.pop(tx.nonce, None)
                if not by_nonce:
                    del self._by_sender[tx.sender]

    def on_head_change(self, state: State, applied: list[Block], reverted: list[Block], now_ms: int) -> None:
        """Follow a head change: drop included, stale and expired transactions; take back
        the transactions of reverted blocks that are still valid."""
        included = {tx.id for block in applied for tx in block.transactions}
        self.remove(included)
        for block in reverted:
            for tx in block.transactions:
                if tx.id in included or tx.id in self._txs:
                    continue
                account = state.accounts.get(tx.sender)
                if account is None or tx.nonce < account.nonce or tx.expiration < now_ms:
                    continue
                pending = self._by_sender.get(tx.sender, {})
                if tx.nonce == account.nonce + len(pending) and len(self._txs) < self.max_size:
                    self._insert(tx, now_ms)
        stale: list[str] = []
        for sender, by_nonce in self._by_sender.items():
            account = state.accounts.get(sender)
            next_nonce = account.nonce if account else 0
            stale.extend(tx_id for nonce, tx_id in by_nonce.items() if nonce < next_nonce)
        stale.extend(tx_id for tx_id, tx in self._txs.items() if tx.expiration < now_ms)
        self.remove(stale)

    # --- selection -------------------------------------------------------------------------

    def select(self, state: State, limit: int, *, max_seq: int | None = None) -> list[Transaction]:
        """Up to ``limit`` transactions for a block: highest fee first, then arrival order
        (sequence number), nonces in order; with ``max_seq``, only transactions numbered up
        to it."""
        seqs = self._seq
        queues: dict[str, list[Transaction]] = {}
        for sender, by_nonce in self._by_sender.items():
            account = state.accounts.get(sender)
            nonce = account.nonce if account else 0
            queue = []
            while nonce in by_nonce:
                tx_id = by_nonce[nonce]
                if max_seq is not None and seqs[tx_id] > max_seq:
                    break
                queue.append(self._txs[tx_id])
                nonce += 1
            if queue:
                queue.reverse()  # pop() from the end yields ascending nonces
                queues[sender] = queue
        heap = [(-q[-1].fee, seqs[q[-1].id], sender) for sender, q in queues.items()]
        heapq.heapify(heap)
        chosen: list[Transaction] = []
        while heap and len(chosen) < limit:
            _, _, sender = heapq.heappop(heap)
            queue = queues[sender]
            chosen.append(queue.pop())
            if queue:
                heapq.heappush(heap, (-queue[-1].fee, seqs[queue[-1].id], sender))
        return chosen

    def pending(self) -> list[Transaction]:
        """Every pending transaction, in arrival order."""
        return sorted(self._txs.values(), key=lambda t: self._seq[t.id])

    def updates(self, after_seq: int, limit: int) -> list[Transaction]:
        """Pending transactions that arrived after sequence number ``after_seq`` (in order)."""
        newer = sorted((seq, tx_id) for tx_id, seq in self._seq.items() if seq > after_seq)
        return [self._txs[tx_id] for _, tx_id in newer[:limit]]

    def seq_of(self, tx_id: str) -> int:
        return self._seq.get(tx_id, 0)
