"""Runner daemon settings (``BPPOOL_RUNNER_*`` environment variables or a TOML file)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from service_shell.httplimits import HttpLimitsSettings


class RunnerSettings(HttpLimitsSettings):
    """What a runner needs; the defaults fit a local node."""

    model_config = SettingsConfigDict(env_prefix="BPPOOL_RUNNER_", extra="forbid")

    key_file: Path = Field(Path("data/runner/key.json"), description="The runner's account key (0600).")
    node_url: str = Field("http://127.0.0.1:8888", description="A chain node.")
    services: list[str] = Field(default_factory=list, description="Installed service packages to serve.")
    poll_ms: int = Field(250, ge=20, description="How often to look for new work.")
    concurrency: int = Field(4, ge=1, le=64, description="Tasks run at the same time.")
    fee: int = Field(10, ge=1, description="Fee of each transaction the runner sends (smallest units).")
    retry_after_ms: int = Field(
        5000, ge=100, description="Resend a result or verdict not on chain after this."
    )
    metrics_host: str = "127.0.0.1"
    metrics_port: int = Field(0, ge=0, le=65535, description="Port of /metrics (0: none).")
    corrupt_results: bool = Field(
        False,
        description="Fault injection for tests and demos: submit wrong outputs (verifiers out-vote them).",
    )
    log_level: str = "info"
