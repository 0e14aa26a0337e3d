"""Chain parameters and the genesis document.

Every parameter of the chain lives in genesis, so two nodes with the same genesis file run
the same rules. The defaults follow Antelope (500 ms slots, 12 repetitions, 21 producers) and
Cosmos SDK x/slashing (window 100, 50 % signed, 1 % downtime slash, 5 % double-sign slash).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from .codec import compute_id
from .errors import InvalidGenesis, MalformedInput
from .types import (
    DEFAULT_SYMBOL,
    AccountName,
    Amount,
    Hash32,
    PublicKey,
    Timestamp,
    validate_account_name,
    validate_amount,
    validate_int,
    validate_object,
    validate_public_key,
    validate_str,
    validate_symbol,
)

BPS = 10_000
"""Basis points: fractions are integers out of 10,000."""


@dataclass(frozen=True)
class ChainParams:
    """The rules of one chain. Durations are in slots; fractions in basis points."""

    slot_ms: int = 500
    producer_repetitions: int = 12
    max_producers: int = 21
    min_producer_stake: int = 1_0000
    block_reward: int = 1_0000
    min_fee: int = 1
    account_creation_fee: int = 1_0000
    max_block_transactions: int = 5_000
    max_tx_lifetime_ms: int = 3_600_000
    max_memo_length: int = 256
    liveness_window: int = 100
    min_signed_bps: int = 5_000
    downtime_slash_bps: int = 100
    double_sign_slash_bps: int = 500
    jail_slots: int = 1_200
    unbonding_slots: int = 3_628_800
    max_evidence_age_slots: int = 100_000
    # executions (MESG-style); see chain.core.executions
    verifiers_per_execution: int = 3
    execution_timeout_slots: int = 120
    verification_timeout_slots: int = 120
    runner_share_bps: int = 8_000
    developer_share_bps: int = 1_000
    verifier_share_bps: int = 1_000
    runner_slash_bps: int = 1_000
    min_runner_stake: int = 1_0000
    max_execution_io_bytes: int = 16_384

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if type(value) is not int or value < 0:
                raise InvalidGenesis(f"params.{f.name}: must be a non-negative integer")
        positive = ("slot_ms", "producer_repetitions", "max_producers", "liveness_window")
        for name in positive:
            if getattr(self, name) <= 0:
                raise InvalidGenesis(f"params.{name}: must be positive")
        for name in ("min_signed_bps", "downtime_slash_bps", "double_sign_slash_bps", "runner_slash_bps"):
            if getattr(self, name) > BPS:
                raise InvalidGenesis(f"params.{name}: must be at most {BPS} basis points")
        shares = self.runner_share_bps + self.developer_share_bps + self.verifier_share_bps
        if shares != BPS:
            raise InvalidGenesis(
                f"params: runner + developer + verifier shares must sum to {BPS} bps, got {shares}"
            )
        if self.max_producers > 125:
            raise InvalidGenesis("params.max_producers: at most 125 (Antelope's max_producers)")

    @property
    def min_signed(self) -> int:
        """Slots of the liveness window a producer must have produced (rounded up)."""
        return -(-self.liveness_window * self.min_signed_bps // BPS)

    def to_dict(self) -> dict[str, int]:
        """The parameters as a JSON-ready object."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> ChainParams:
        """Parameters from JSON; unknown names are rejected, missing ones take the default."""
        if not isinstance(data, dict):
            raise InvalidGenesis("params: expected an object")
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise InvalidGenesis(f"params: unknown parameter(s) {', '.join(sorted(unknown))}")
        return cls(**data)


@dataclass(frozen=True)
class GenesisAccount:
    """An account that exists at genesis with a liquid balance."""

    name: AccountName
    key: PublicKey
    balance: Amount


@dataclass(frozen=True)
class GenesisProducer:
    """A producer registered at genesis with a self-delegated stake (extra to its balance)."""

    name: AccountName
    stake: Amount
    url: str = ""


@dataclass(frozen=True)
class Genesis:
    """The genesis document: time, token symbol, parameters, accounts and producers."""

    genesis_time: Timestamp
    accounts: tuple[GenesisAccount, ...]
    producers: tuple[GenesisProducer, ...]
    params: ChainParams = field(default_factory=ChainParams)
    symbol: str = DEFAULT_SYMBOL
    network: str = "bppool-devnet"

    def __post_init__(self) -> None:
        names = [a.name for a in self.accounts]
        if len(set(names)) != len(names):
            raise InvalidGenesis("accounts: duplicate account name")
        known = set(names)
        prod_names = [p.name for p in self.producers]
        if len(set(prod_names)) != len(prod_names):
            raise InvalidGenesis("producers: duplicate producer name")
        for p in self.producers:
            if p.name not in known:
                raise InvalidGenesis(f"producers: {p.name} has no account in genesis")
        if not any(p.stake >= self.params.min_producer_stake for p in self.producers):
            raise InvalidGenesis("producers: at least one producer needs the minimum stake")

    @property
    def chain_id(self) -> Hash32:
        """The chain id: the id of the canonical genesis document."""
        return compute_id(self.to_dict())

    @property
    def initial_supply(self) -> int:
        """Every token that exists at genesis: balances plus stakes."""
        return sum(a.balance for a in self.accounts) + sum(p.stake for p in self.producers)

    def to_dict(self) -> dict[str, Any]:
        """The genesis document as a JSON-ready object."""
        return {
            "network": self.network,
            "genesis_time": self.genesis_time,
            "symbol": self.symbol,
            "params": self.params.to_dict(),
            "accounts": [{"name": a.name, "key": a.key, "balance": a.balance} for a in self.accounts],
            "producers": [{"name": p.name, "stake": p.stake, "url": p.url} for p in self.producers],
        }

    @classmethod
    def from_dict(cls, data: Any) -> Genesis:
        """Parse and validate a genesis document."""
        try:
            validate_object(
                data,
                "genesis",
                {"network", "genesis_time", "symbol", "params", "accounts", "producers"},
                {"genesis_time", "accounts", "producers"},
            )
            accounts = []
            for i, a in enumerate(_list(data["accounts"], "accounts")):
                validate_object(a, f"accounts[{i}]", {"name", "key", "balance"}, {"name", "key", "balance"})
                accounts.append(
                    GenesisAccount(
                        name=validate_account_name(a["name"], f"accounts[{i}].name"),
                        key=validate_public_key(a["key"], f"accounts[{i}].key"),
                        balance=validate_amount(a["balance"], f"accounts[{i}].balance", allow_zero=True),
                    )
                )
            producers = []
            for i, p in enumerate(_list(data["producers"], "producers")):
                validate_object(p, f"producers[{i}]", {"name", "stake", "url"}, {"name", "stake"})
                producers.append(
                    GenesisProducer(
                        name=validate_account_name(p["name"], f"producers[{i}].name"),
                        stake=validate_amount(p["stake"], f"producers[{i}].stake", allow_zero=True),
                        url=validate_str(p.get("url", ""), f"producers[{i}].url"),
                    )
                )
            return cls(
                genesis_time=Timestamp(validate_int(data["genesis_time"], "genesis_time", maximum=2**53)),
                accounts=tuple(accounts),
                producers=tuple(producers),
                params=ChainParams.from_dict(data.get("params", {})),
                symbol=validate_symbol(data.get("symbol", DEFAULT_SYMBOL)),
                network=validate_str(data.get("network", "bppool-devnet"), "network", max_length=64),
            )
        except MalformedInput as exc:
            raise InvalidGenesis(exc.message) from None


def _list(value: Any, field_name: str) -> list[Any]:
    if not isinstance(value, list):
        raise InvalidGenesis(f"{field_name}: expected a list")
    return value
