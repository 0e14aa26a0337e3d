"""Installs the DAC into the pool service (entry point ``bppool.pool_extensions: dac``).

The only place that knows the pool service's concrete shape: it builds the DAC's
:class:`pool_dac.host.PoolHost` once and attaches the DAC to the service's extension points.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from pool_dac.api import install_error_handler, router
from pool_dac.config import DacSettings
from pool_dac.host import PoolHost
from pool_dac.service import Dac
from service_shell.settings import SettingsError


def install(app: FastAPI, service: Any) -> Dac | None:
    """Mount ``/v1/dac`` and attach the DAC to the pool service's life cycle (unless disabled)."""
    try:
        settings = DacSettings(**service.settings.extensions.get("dac", {}))
    except Exception as exc:  # pydantic's ValidationError: report it like other settings
        raise SettingsError(f"invalid [extensions.dac] settings: {exc}") from None
    if not settings.enabled:
        return None
    dac = Dac(build_host(service), settings)
    service.add_extension(dac, on_application=dac.on_application, admission_by_vote=True)
    app.state.dac = dac
    app.include_router(router)
    install_error_handler(app)
    return dac


def build_host(service: Any) -> PoolHost:
    """What the DAC uses of ``service`` (the emitter)."""

    return PoolHost(
        service=service,
        engine=service.engine,
        follower=service.follower,
        genesis=service.genesis,
        chain_id=service.chain_id,
        pool=service.pool,
        pool_key=service.pool_key,
        clock=service.clock,
        event_log=service.event_log,
        supervisor=service.supervisor,
        registry=service.metrics.registry,
        node_url=service.settings.node_urls[0],
    )
