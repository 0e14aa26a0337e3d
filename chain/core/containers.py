"""Containers: actions, transactions, block headers and blocks.

Frozen dataclasses parsed strictly from wire JSON (unknown fields, floats and bad names are
rejected with a message naming the field) and encoded back to canonical JSON. Ids are cached
on first use, so a transaction's id is computed once however often it is looked up.

Actions form an open registry: a module defines a subclass of :class:`Action` and decorates
it with :func:`register_action`; the transition module registers the matching processor.

Spec: ``docs/spec/encoding.md`` (containers) and ``docs/spec/transition.md`` §3.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from .caching import Forward, cached
from .codec import canonical_bytes_trusted, compute_id
from .crypto import DOMAIN_BLOCK, DOMAIN_CANDIDATE, DOMAIN_TX, PrivateKey
from .errors import MalformedInput, MalformedTransaction
from .merkle import compute_leaf_hash
from .types import (
    MAX_NONCE,
    AccountName,
    Amount,
    Hash32,
    Height,
    PublicKey,
    SignatureHex,
    Slot,
    Timestamp,
    validate_account_name,
    validate_amount,
    validate_hash,
    validate_int,
    validate_object,
    validate_signature,
    validate_timestamp,
)

if TYPE_CHECKING:
    from .txcache import TransactionCache

from .wire import amount_or_zero, fields_to_dict, integer, parse_fields, text, wire

# --- actions -------------------------------------------------------------------------------


class Action:
    """Base of every action a transaction carries; subclasses are frozen dataclasses whose
    wire form derives from their fields (:mod:`chain.core.wire`)."""

    TYPE: ClassVar[str] = ""
    WIRE_NAME: ClassVar[str] = ""
    """How errors name the action's wire object: ``action(<type>)`` (set on registration)."""

    def fields_dict(self) -> dict[str, Any]:
        """The action's own fields as a JSON-ready object (without ``type``)."""
        return fields_to_dict(self)

    def to_dict(self) -> dict[str, Any]:
        """The action as a JSON-ready object, with its ``type``."""
        data = fields_to_dict(self)
        data["type"] = self.TYPE
        return data

    @classmethod
    def from_fields(cls, data: dict[str, Any]) -> Action:
        """Parse the action's fields (``type`` already removed)."""
        return parse_fields(cls, data, cls.WIRE_NAME, "action.")

    def spend(self, params: Any) -> int:
        """Liquid balance the action takes from its sender beyond the fee (for mempools)."""
        return 0


ACTION_TYPES: dict[str, type[Action]] = {}

A = TypeVar("A", bound=type[Action])


def register_action(cls: A) -> A:
    """Class decorator: make an action type known to the transaction parser."""
    if not cls.TYPE or cls.TYPE in ACTION_TYPES:
        raise ValueError(f"action type {cls.TYPE!r} is empty or registered twice")
    ACTION_TYPES[cls.TYPE] = cls
    cls.WIRE_NAME = f"action({cls.TYPE})"
    return cls


def parse_action(data: Any) -> Action:
    """Parse a wire action object by its ``type``."""
    if not isinstance(data, dict):
        raise MalformedInput("action: expected an object")
    kind = data.get("type")
    cls = ACTION_TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise MalformedInput(f"action.type: unknown action {kind!r}")
    fields = {k: v for k, v in data.items() if k != "type"}
    return cls.from_fields(fields)


@register_action
@dataclass(frozen=True)
class Transfer(Action):
    """Move ``amount`` from the sender to ``to``."""

    TYPE: ClassVar[str] = "transfer"
    to: AccountName
    amount: Amount
    memo: str = field(default="", metadata=wire(text(1024)))

    def spend(self, params: Any) -> int:
        return self.amount


@register_action
@dataclass(frozen=True)
class CreateAccount(Action):
    """Create account ``name`` bound to ``key``; the sender pays the creation fee."""

    TYPE: ClassVar[str] = "create_account"
    name: AccountName
    key: PublicKey

    def spend(self, params: Any) -> int:
        return int(params.account_creation_fee)


@register_action
@dataclass(frozen=True)
class RegisterProducer(Action):
    """Register the sender as a block producer (or update its URL)."""

    TYPE: ClassVar[str] = "register_producer"
    url: str = ""


@register_action
@dataclass(frozen=True)
class Stake(Action):
    """Delegate ``amount`` of the sender's balance to ``producer`` (itself or another)."""

    TYPE: ClassVar[str] = "stake"
    producer: AccountName
    amount: Amount

    def spend(self, params: Any) -> int:
        return self.amount


@register_action
@dataclass(frozen=True)
class Unstake(Action):
    """Move ``amount`` of the sender's delegation to ``producer`` into unbonding."""

    TYPE: ClassVar[str] = "unstake"
    producer: AccountName
    amount: Amount


@register_action
@dataclass(frozen=True)
class Withdraw(Action):
    """Return every matured unbonding entry of the sender to its balance."""

    TYPE: ClassVar[str] = "withdraw"


@register_action
@dataclass(frozen=True)
class Unjail(Action):
    """Bring the sending producer back after its jail period."""

    TYPE: ClassVar[str] = "unjail"


# --- block headers -------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class BlockHeader:
    """What a block commits to; its id is the id of these fields."""

    chain_id: Hash32
    height: Height
    slot: Slot
    prev_id: Hash32
    timestamp: Timestamp
    producer: AccountName
    builder: AccountName
    tx_root: Hash32
    state_root: Hash32

    def to_dict(self) -> dict[str, Any]:
        """The header as a JSON-ready object."""
        return fields_to_dict(self)

    @cached
    def canonical(self) -> bytes:
        """The canonical bytes of the header (what producer and builder sign)."""
        return canonical_bytes_trusted(self.to_dict())

    @cached
    def id(self) -> Hash32:
        """The block id: sha256 of the canonical header."""
        return compute_id(self.to_dict())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, BlockHeader) and other.id == self.id

    def __hash__(self) -> int:
        return hash(self.id)

    @classmethod
    def from_dict(cls, data: Any, field: str = "header") -> BlockHeader:
        """Parse a wire header."""
        return parse_fields(cls, data, field, f"{field}.")


@dataclass(frozen=True)
class SignedHeader:
    """A header with its producer's signature: the unit of double-production evidence."""

    header: BlockHeader
    signature: SignatureHex

    def to_dict(self) -> dict[str, Any]:
        """The signed header as a JSON-ready object."""
        return fields_to_dict(self)

    @classmethod
    def from_dict(cls, data: Any, field: str) -> SignedHeader:
        """Parse a wire signed header."""
        return parse_fields(cls, data, field, f"{field}.")


@register_action
@dataclass(frozen=True)
class DoubleProductionEvidence(Action):
    """Two different headers for one slot signed by one producer."""

    TYPE: ClassVar[str] = "evidence"
    first: SignedHeader
    second: SignedHeader


# --- transactions --------------------------------------------------------------------------


def _parse_action(value: Any, where: str) -> Action:
    return parse_action(value)


def _action_to_dict(action: Action) -> dict[str, Any]:
    return action.to_dict()


_TX_FIELDS = frozenset({"chain_id", "sender", "nonce", "fee", "expiration", "action", "signature"})


@dataclass(frozen=True, eq=False)
class Transaction:
    """A signed request by ``sender`` to perform ``action``, paying ``fee``.

    ``nonce`` must equal the sender's account nonce (replay protection); the transaction
    is valid in blocks whose timestamp is at most ``expiration``.
    """

    chain_id: Hash32
    sender: AccountName
    nonce: int = field(metadata=wire(integer(MAX_NONCE)))
    fee: Amount = field(metadata=wire(amount_or_zero))
    expiration: Timestamp
    action: Action = field(metadata=wire(_parse_action, encode=_action_to_dict))
    signature: SignatureHex = field(default=SignatureHex(""), metadata=wire(required=True))

    # The hottest container (every transaction is parsed and encoded on its way in and out):
    # its wire form is written out here, and tests check it against the one its fields derive
    # (chain.core.wire.parse_fields / fields_to_dict), which stays the reference.

    def body(self) -> dict[str, Any]:
        """The signed fields (everything but the signature)."""
        return {
            "chain_id": self.chain_id,
            "sender": self.sender,
            "nonce": self.nonce,
            "fee": self.fee,
            "expiration": self.expiration,
            "action": self.action.to_dict(),
        }

    @cached
    def body_bytes(self) -> bytes:
        """Canonical bytes of the body: what the sender signs."""
        return canonical_bytes_trusted(self.body())

    @cached
    def id(self) -> Hash32:
        """The transaction id: sha256 of the canonical body (as in EOSIO, without signature)."""
        return Hash32(hashlib.sha256(self.body_bytes).hexdigest())

    @cached
    def leaf_hash(self) -> bytes:
        """This transaction's leaf in a block's ``tx_root``: over ``id || signature``."""
        return compute_leaf_hash(bytes.fromhex(self.id) + bytes.fromhex(self.signature))

    def to_dict(self) -> dict[str, Any]:
        """The signed transaction as a JSON-ready object."""
        data = self.body()
        data["signature"] = self.signature
        return data

    def sign(self, key: PrivateKey) -> Transaction:
        """A copy of this transaction signed by ``key``."""
        return replace(self, signature=key.sign(DOMAIN_TX, self.body_bytes))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Transaction) and other.id == self.id and other.signature == self.signature

    def __hash__(self) -> int:
        return hash(self.id)

    @classmethod
    def from_dict(cls, data: Any) -> Transaction:
        """Parse a wire transaction; raises :class:`MalformedTransaction` naming the field."""
        try:
            validate_object(data, "transaction", _TX_FIELDS, _TX_FIELDS)
            return cls(
                validate_hash(data["chain_id"], "chain_id"),
                validate_account_name(data["sender"], "sender"),
                validate_int(data["nonce"], "nonce", maximum=MAX_NONCE),
                validate_amount(data["fee"], "fee", allow_zero=True),
                validate_timestamp(data["expiration"], "expiration"),
                parse_action(data["action"]),
                validate_signature(data["signature"]),
            )
        except MalformedTransaction:
            raise
        except MalformedInput as exc:
            raise MalformedTransaction(exc.message) from None


# --- blocks --------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Block:
    """A header, its transactions, the producer's signature and, when a pool member built
    it, the builder's signature. A candidate from a member has no producer signature yet."""

    header: BlockHeader
    transactions: tuple[Transaction, ...]
    producer_signature: SignatureHex = SignatureHex("")
    builder_signature: SignatureHex | None = None

    id = Forward[Hash32]("header.id")
    """The block id (the header id)."""
    height = Forward[Height]("header.height")
    slot = Forward[Slot]("header.slot")

    @cached
    def total_fees(self) -> int:
        """Sum of the fees of the block's transactions."""
        return sum(tx.fee for tx in self.transactions)

    def to_dict(self) -> dict[str, Any]:
        """The block as a JSON-ready object."""
        return {
            "header": self.header.to_dict(),
            "transactions": [tx.to_dict() for tx in self.transactions],
            "producer_signature": self.producer_signature,
            "builder_signature": self.builder_signature,
        }

    @cached
    def transactions_json(self) -> bytes:
        """The canonical JSON of the transaction list (a decoder that read it from canonical
        bytes primes it; copies of the block with other signatures keep it)."""
        return canonical_bytes_trusted([tx.to_dict() for tx in self.transactions])

    @cached
    def transactions_digest(self) -> bytes:
        """sha256 of :attr:`transactions_json`: equal digests, equal transaction lists."""
        return hashlib.sha256(self.transactions_json).digest()

    def canonical_head(self) -> bytes:
        """The canonical JSON of the block without its ``transactions`` key."""
        return canonical_bytes_trusted(
            {
                "builder_signature": self.builder_signature,
                "header": self.header.to_dict(),
                "producer_signature": self.producer_signature,
            }
        )

    def canonical(self) -> bytes:
        """The block's canonical JSON, ``canonical_bytes_trusted(self.to_dict())``, built
        around :attr:`transactions_json` (``transactions`` is the last key in sorted order)."""
        head = self.canonical_head()
        return b"".join((head[:-1], b',"transactions":', self.transactions_json, b"}"))

    def with_signatures(
        self, *, producer_signature: SignatureHex | None = None, builder_signature: SignatureHex | None = None
    ) -> Block:
        """A copy with the given signature(s) replaced (the transaction list's JSON kept)."""
        block = Block(
            header=self.header,
            transactions=self.transactions,
            producer_signature=self.producer_signature if producer_signature is None else producer_signature,
            builder_signature=self.builder_signature if builder_signature is None else builder_signature,
        )
        for name in ("transactions_json", "transactions_digest", "total_fees"):
            if name in self.__dict__:
                block.__dict__[name] = self.__dict__[name]
        return block

    def signed_by_producer(self, key: PrivateKey) -> Block:
        """A copy with the producer's signature over the header."""
        return self.with_signatures(producer_signature=key.sign(DOMAIN_BLOCK, self.header.canonical))

    def signed_by_builder(self, key: PrivateKey) -> Block:
        """A copy with the builder's (pool member's) signature over the header."""
        return self.with_signatures(builder_signature=key.sign(DOMAIN_CANDIDATE, self.header.canonical))

    @classmethod
    def from_dict(
        cls, data: Any, *, max_transactions: int = 100_000, tx_cache: TransactionCache | None = None
    ) -> Block:
        """Parse a wire block (or candidate); ``tx_cache`` skips re-parsing known transactions."""
        validate_object(
            data,
            "block",
            {"header", "transactions", "producer_signature", "builder_signature"},
            {"header", "transactions"},
        )
        txs = data["transactions"]
        if not isinstance(txs, list):
            raise MalformedInput("block.transactions: expected a list")
        if len(txs) > max_transactions:
            raise MalformedInput(f"block.transactions: more than {max_transactions} transactions")
        transactions = []
        for i, tx in enumerate(txs):
            known = tx_cache.get(tx) if tx_cache is not None else None
            if known is not None:
                transactions.append(known)
                continue
            try:
                parsed = Transaction.from_dict(tx)
            except MalformedInput as exc:
                raise MalformedInput(f"block.transactions[{i}]: {exc.message}") from None
            transactions.append(parsed)
            if tx_cache is not None:
                tx_cache.put(parsed, tx)
        producer_sig = data.get("producer_signature") or ""
        builder_sig = data.get("builder_signature")
        return cls(
            header=BlockHeader.from_dict(data["header"]),
            transactions=tuple(transactions),
            producer_signature=SignatureHex(
                validate_signature(producer_sig, "producer_signature") if producer_sig else ""
            ),
            builder_signature=(
                validate_signature(builder_sig, "builder_signature") if builder_sig is not None else None
            ),
        )


def encode_block(block: Block) -> bytes:
    """The bytes a block is stored, served and pushed as: its canonical JSON (one definition
    for the node's block store, API and gossip, and the pool service's pushes)."""
    return block.canonical()
