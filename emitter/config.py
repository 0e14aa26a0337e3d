"""Emitter settings (``BPPOOL_EMITTER_*`` environment variables or a TOML file).

The database URL is ``BPPOOL_DATABASE_URL`` (shared with the DAC, which lives in the same
pool service); without one, a SQLite file under the data directory is used.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from pool_protocol.outcomes import FALLBACK_NAMES, STRATEGY_NAMES
from pool_protocol.requests import DEFAULT_REQUEST_SKEW_S
from service_shell.httplimits import HttpLimitsSettings
from service_shell.settings import one_of, sqlite_url


class EmitterSettings(HttpLimitsSettings):
    """Everything the pool's block emitter needs; every default works on one machine."""

    model_config = SettingsConfigDict(env_prefix="BPPOOL_EMITTER_", extra="forbid", populate_by_name=True)

    genesis: Path = Field(Path("data/chain/genesis.json"), description="Genesis document of the chain.")
    pool_key_file: Path = Field(
        Path("data/chain/keys/pool.json"), description="The pool producer's key file."
    )
    node_urls: list[str] = Field(
        default_factory=lambda: ["http://127.0.0.1:8888"],
        description="Chain nodes: the first is followed; blocks go to each in turn until one takes it.",
    )
    data_dir: Path = Path("data/emitter")
    database_url: str | None = Field(
        None,
        validation_alias=AliasChoices("database_url", "BPPOOL_DATABASE_URL", "BPPOOL_EMITTER_DATABASE_URL"),
        description="SQLAlchemy URL (default: SQLite emitter.db in data_dir).",
    )
    host: str = "127.0.0.1"
    port: int = Field(8900, ge=0, le=65535)
    strategy: str = Field("first_delivered", description="first_delivered, best_fees or fair_rotation.")
    fallback: str = Field("local", description="local, empty or none.")
    cutoff_ms: int = Field(400, gt=0, description="Into the slot: no valid candidate by then -> fallback.")
    grace_ms: int = Field(150, ge=0, description="fair_rotation: how long the turn member is waited for.")
    constitution_file: Path | None = Field(None, description="The constitution text (default: built in).")
    max_candidate_bytes: int = Field(8 * 1024 * 1024, gt=0)
    max_request_bytes: int = Field(64 * 1024, gt=0)
    request_skew_s: int = Field(
        DEFAULT_REQUEST_SKEW_S, gt=0, description="Allowed clock skew of signed member requests."
    )
    push_timeout_s: float = Field(
        2.0,
        gt=0,
        description=(
            "Bound on every block delivery to a node (connect, and the answer to a prepare, "
            "commit or push); past it the node counts as failed and the next node_urls get the block."
        ),
    )
    expect_lead_ms: int = Field(
        150,
        ge=0,
        description=(
            "How long before a pool slot opens the emitter validates the block members are "
            "expected to build (the mempool's selection, announced as tx_seq in slot_open), "
            "here and at the node, so a matching candidate needs no state transition on "
            "arrival; 0 turns this off."
        ),
    )
    instance_name: str | None = Field(
        None,
        max_length=128,
        description="This instance's name in the group (default: host name and port).",
    )
    advertise_url: str | None = Field(
        None,
        description=(
            "Where the other instances of the group reach this one (admin writes are forwarded to "
            "the lease holder's); default http://<host>:<port>."
        ),
    )
    lease_ttl_ms: int = Field(
        1500, ge=300, le=60_000, description="Group lease: how long it lasts unless renewed (database clock)."
    )
    lease_renew_ms: int = Field(250, ge=50, le=20_000, description="Group lease: how often it is renewed.")
    log_level: str = "info"
    extensions: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="Settings of pool-service extensions by name (e.g. [extensions.dac]).",
    )

    @field_validator("strategy")
    @classmethod
    def _strategy(cls, value: str) -> str:
        return one_of(value, STRATEGY_NAMES, "strategy")

    @field_validator("fallback")
    @classmethod
    def _fallback(cls, value: str) -> str:
        return one_of(value, FALLBACK_NAMES, "fallback")

    @model_validator(mode="after")
    def _urls(self) -> EmitterSettings:
        if not self.node_urls:
            raise ValueError("node_urls: at least one chain node is needed")
        if self.lease_renew_ms * 3 > self.lease_ttl_ms:
            raise ValueError(
                f"lease_renew_ms {self.lease_renew_ms} must be at most a third of lease_ttl_ms "
                f"{self.lease_ttl_ms} (a holder renews several times before its lease can lapse)"
            )
        return self

    @property
    def instance(self) -> str:
        """This instance's name in the group."""
        return self.instance_name or f"{socket.gethostname()}:{self.port}"

    @property
    def url(self) -> str:
        """Where the other instances reach this one."""
        if self.advertise_url:
            return self.advertise_url.rstrip("/")
        host = socket.gethostname() if self.host in ("0.0.0.0", "::", "") else self.host
        return f"http://{host}:{self.port}"

    @property
    def db_url(self) -> str:
        return sqlite_url(self.database_url, self.data_dir, "emitter.db")
