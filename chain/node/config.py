"""Node settings (``BPPOOL_NODE_*`` environment variables or a TOML file)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from chain.core.types import is_valid_account_name
from pool_protocol.requests import DEFAULT_REQUEST_SKEW_S
from service_shell.httplimits import HttpLimitsSettings
from service_shell.settings import sqlite_url


class NodeSettings(HttpLimitsSettings):
    """Everything a chain node needs; every default works on one machine."""

    model_config = SettingsConfigDict(env_prefix="BPPOOL_NODE_", extra="forbid")

    genesis: Path = Field(Path("data/chain/genesis.json"), description="Genesis document (JSON).")
    key_file: Path | None = Field(None, description="Producer key file; without one the node only follows.")
    key_files: list[Path] = Field(
        default_factory=list,
        description="More producer key files (a node may produce for several producers).",
    )
    data_dir: Path = Field(Path("data/node"), description="Where the block store lives.")
    database_url: str | None = Field(None, description="Block store URL (default: SQLite in data_dir).")
    host: str = "127.0.0.1"
    port: int = Field(8888, ge=0, le=65535)
    peers: list[str] = Field(default_factory=list, description="Base URLs of peer nodes.")
    mempool_max: int = Field(20_000, gt=0)
    max_transaction_bytes: int = Field(64 * 1024, gt=0)
    max_block_bytes: int = Field(8 * 1024 * 1024, gt=0)
    max_clock_skew_ms: int = Field(1_000, ge=0, description="Refuse blocks this far in the future.")
    request_skew_s: int = Field(
        DEFAULT_REQUEST_SKEW_S, gt=0, description="Allowed clock skew of signed requests (prepare_block)."
    )
    builders: list[str] = Field(
        default_factory=list,
        description="Accounts that may ask this node to build a pool slot's candidate "
        "(POST /v1/producer/build_candidate, signed with the account's key on chain).",
    )
    produce: bool = Field(True, description="Build blocks at this key's slots (needs key_file).")
    produce_offset_ms: int = Field(0, ge=0, lt=500, description="Delay into an own slot before building.")
    sync_interval_s: float = Field(1.0, gt=0)
    log_level: str = "info"

    @field_validator("builders")
    @classmethod
    def _builders_are_accounts(cls, value: list[str]) -> list[str]:
        for name in value:
            if not is_valid_account_name(name):
                raise ValueError(f"builders: {name!r} is not an account name (a-z, 1-5 and '.', up to 12)")
        return value

    @property
    def store_url(self) -> str:
        return sqlite_url(self.database_url, self.data_dir, "chain.db")
