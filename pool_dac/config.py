"""DAC settings: the ``[extensions.dac]`` table of the pool service's config, or
``BPPOOL_DAC_*`` environment variables."""

from __future__ import annotations

from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class DacSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BPPOOL_DAC_", extra="forbid")

    enabled: bool = True
    bootstrap_members: list[str] = Field(
        default_factory=list, description="Admitted on application without a vote: the pool's founders."
    )
    bootstrap_parameters: dict[str, Any] = Field(
        default_factory=dict, description="Parameter values the DAC starts from (votes change them later)."
    )
    scheduler: bool = Field(True, description="Run the periodic jobs (close epochs, advance proposals, pay).")
    tick_seconds: float = Field(1.0, gt=0, description="How often the jobs run.")
    payouts: bool = Field(True, description="Pay statements out on chain.")
    crash_after_payouts: int | None = Field(
        None,
        description=(
            "Fault injection for tests: exit the process right after pushing this many "
            "transfers, before recording them as sent."
        ),
    )
