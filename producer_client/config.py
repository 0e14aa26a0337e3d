"""Member daemon settings (``BPPOOL_PRODUCER_*`` environment variables or a TOML file)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from service_shell.httplimits import HttpLimitsSettings


class ProducerSettings(HttpLimitsSettings):
    """What a pool member's daemon needs; the defaults fit the devnet's layout."""

    model_config = SettingsConfigDict(env_prefix="BPPOOL_PRODUCER_", extra="forbid")

    key_file: Path = Field(Path("data/producer/key.json"), description="The member's account key (0600).")
    genesis: Path = Field(Path("data/chain/genesis.json"), description="Genesis of the chain.")
    emitter_url: str = Field("http://127.0.0.1:8900", description="The pool service (one instance).")
    emitter_urls: list[str] = Field(
        default_factory=list,
        description=(
            "Every instance of the pool's emitter group (instead of emitter_url): the daemon follows "
            "the feed of one, delivers to the one that answers, and fails over within the slot."
        ),
    )
    node_url: str = Field("http://127.0.0.1:8888", description="The member's own chain node.")
    endpoint: str = Field("", description="Public endpoint info sent with the application.")
    auto_apply: bool = Field(True, description="Apply to the pool at start when not a member yet.")
    max_transactions: int = Field(5000, gt=0, description="Most transactions per candidate.")
    metrics_host: str = "127.0.0.1"
    metrics_port: int = Field(0, ge=0, le=65535, description="Port of /metrics (0: none).")
    # Simulation knobs for the devnet (real members leave them at zero).
    delay_ms: int = Field(0, ge=0, description="Extra delay before each delivery (simulated latency).")
    jitter_ms: int = Field(0, ge=0, description="Random extra delay up to this much.")
    failure_rate: float = Field(0.0, ge=0.0, le=1.0, description="Chance to skip a slot or deliver garbage.")
    log_level: str = "info"

    @property
    def emitters(self) -> list[str]:
        """The pool service's instances, in the configured order."""
        return [u.rstrip("/") for u in self.emitter_urls] or [self.emitter_url.rstrip("/")]
