"""Typed exceptions of the chain core.

Every rejection is an instance of a subclass of :class:`ChainError` carrying a stable
machine-readable ``code`` and a human message that names the failed check. The tree follows
ethereum/execution-specs: a transaction error is a block error (a block holding an invalid
transaction is invalid), so callers that only care about blocks catch ``InvalidBlock``.

Spec: ``docs/spec/transition.md`` §10 and ``docs/spec/pool.md`` §9 (every code).
"""

from __future__ import annotations

from typing import ClassVar


class ChainError(Exception):
    """Base of every error the chain core raises on invalid input."""

    code: ClassVar[str] = "chain_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def to_dict(self) -> dict[str, str]:
        """The error as a JSON-ready object: ``{"code": ..., "message": ...}``."""
        return {"code": self.code, "message": self.message}


class MalformedInput(ChainError):
    """Input that does not have the shape of the message it claims to be."""

    code = "malformed"


class InvalidName(MalformedInput):
    code = "invalid_name"


class InvalidAmount(MalformedInput):
    code = "invalid_amount"


class InvalidGenesis(ChainError):
    code = "invalid_genesis"


# --- blocks --------------------------------------------------------------------------------


class InvalidBlock(ChainError):
    code = "invalid_block"


class WrongChain(InvalidBlock):
    code = "wrong_chain"


class WrongHeight(InvalidBlock):
    code = "wrong_height"


class WrongParent(InvalidBlock):
    code = "wrong_parent"


class WrongSlot(InvalidBlock):
    code = "wrong_slot"


class WrongTimestamp(InvalidBlock):
    code = "wrong_timestamp"


class WrongProducer(InvalidBlock):
    code = "wrong_producer"


class BadProducerSignature(InvalidBlock):
    code = "bad_producer_signature"


class BadBuilderSignature(InvalidBlock):
    code = "bad_builder_signature"


class TxRootMismatch(InvalidBlock):
    code = "tx_root_mismatch"


class StateRootMismatch(InvalidBlock):
    code = "state_root_mismatch"


class BlockTooLarge(InvalidBlock):
    code = "block_too_large"


class DuplicateTransaction(InvalidBlock):
    code = "duplicate_transaction"


# --- transactions --------------------------------------------------------------------------


class InvalidTransaction(InvalidBlock):
    code = "invalid_transaction"


class MalformedTransaction(InvalidTransaction, MalformedInput):
    code = "malformed_transaction"


class InvalidAccountName(MalformedTransaction, InvalidName):
    """A transaction names an account that is not a valid name (the state transition's
    own check, whatever built the transaction)."""

    code = "invalid_name"


class WrongChainId(InvalidTransaction):
    code = "wrong_chain_id"


class TransactionExpired(InvalidTransaction):
    code = "expired"


class ExpirationTooFar(InvalidTransaction):
    code = "expiration_too_far"


class UnknownAccount(InvalidTransaction):
    code = "unknown_account"


class NonceMismatch(InvalidTransaction):
    code = "nonce_mismatch"


class FeeTooLow(InvalidTransaction):
    code = "fee_too_low"


class InsufficientBalance(InvalidTransaction):
    code = "insufficient_balance"


class BadSignature(InvalidTransaction):
    code = "bad_signature"


class AccountExists(InvalidTransaction):
    code = "account_exists"


class NotAProducer(InvalidTransaction):
    code = "not_a_producer"


class InsufficientStake(InvalidTransaction):
    code = "insufficient_stake"


class NotJailed(InvalidTransaction):
    code = "not_jailed"


class StillJailed(InvalidTransaction):
    code = "still_jailed"


class Tombstoned(InvalidTransaction):
    code = "tombstoned"


class NothingToWithdraw(InvalidTransaction):
    code = "nothing_to_withdraw"


class InvalidEvidence(InvalidTransaction):
    code = "invalid_evidence"


class ActionRejected(InvalidTransaction):
    """A generic rejection by an action processor (executions and later modules)."""

    code = "action_rejected"


class ExecutionRejected(ActionRejected):
    """An execution action (services, runners, executions, processes) that breaks a rule."""

    code = "execution_rejected"


class UnknownService(ExecutionRejected):
    code = "unknown_service"


class UnknownExecution(ExecutionRejected):
    code = "unknown_execution"


class InvalidIO(ExecutionRejected):
    code = "invalid_io"


class NoRunner(ExecutionRejected):
    code = "no_runner"


class NotAssigned(ExecutionRejected):
    code = "not_assigned"


class WrongExecutionState(ExecutionRejected):
    code = "wrong_execution_state"


# --- fork choice ---------------------------------------------------------------------------


class ForkChoiceError(ChainError):
    code = "fork_choice"


class UnknownParent(ForkChoiceError):
    code = "unknown_parent"


class ConflictsWithFinalized(ForkChoiceError):
    code = "conflicts_with_finalized"


class KnownInvalid(ForkChoiceError):
    code = "known_invalid"
