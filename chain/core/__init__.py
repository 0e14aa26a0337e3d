"""The pure core of the bundled chain: no I/O, no clock, no randomness, no environment.

Time, seeds and keys are arguments. Services (the node, the emitter, the runner) wrap it.
"""

from . import actions as _actions  # noqa: F401  (registers the core action processors)
from . import executions as _executions  # noqa: F401  (registers the execution actions)
from .containers import (
    ACTION_TYPES,
    Action,
    Block,
    BlockHeader,
    CreateAccount,
    DoubleProductionEvidence,
    RegisterProducer,
    SignedHeader,
    Stake,
    Transaction,
    Transfer,
    Unjail,
    Unstake,
    Withdraw,
    parse_action,
    register_action,
)
from .crypto import PrivateKey, verify_signature
from .errors import ChainError, InvalidBlock, InvalidTransaction, MalformedInput
from .forkchoice import OnBlockResult, Store
from .genesis import create_genesis_state
from .params import ChainParams, Genesis, GenesisAccount, GenesisProducer
from .sigcache import SignatureCache
from .state import State, compute_full_state_root, compute_state_root
from .transition import (
    BuiltBlock,
    build_block,
    compute_slot_at,
    compute_timestamp,
    state_transition,
)
from .types import format_amount, parse_amount

__all__ = [
    "ACTION_TYPES",
    "Action",
    "Block",
    "BlockHeader",
    "BuiltBlock",
    "ChainError",
    "ChainParams",
    "CreateAccount",
    "DoubleProductionEvidence",
    "Genesis",
    "GenesisAccount",
    "GenesisProducer",
    "InvalidBlock",
    "InvalidTransaction",
    "MalformedInput",
    "OnBlockResult",
    "PrivateKey",
    "RegisterProducer",
    "SignatureCache",
    "SignedHeader",
    "Stake",
    "State",
    "Store",
    "Transaction",
    "Transfer",
    "Unjail",
    "Unstake",
    "Withdraw",
    "build_block",
    "compute_full_state_root",
    "compute_slot_at",
    "compute_state_root",
    "compute_timestamp",
    "create_genesis_state",
    "format_amount",
    "parse_amount",
    "parse_action",
    "register_action",
    "state_transition",
    "verify_signature",
]
