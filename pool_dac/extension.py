"""Installs the DAC into the pool service (entry point ``bppool.pool_extensions: dac``)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from starlette.responses import Response

from pool_dac.api import router
from pool_dac.config import DacSettings
from pool_dac.core.errors import DacError
from pool_dac.service import Dac
from service_shell.settings import SettingsError
from service_shell.web import error_response


def install(app: FastAPI, host: Any) -> Dac | None:
    """Mount ``/v1/dac`` and attach the DAC to the host's life cycle (unless disabled)."""
    try:
        settings = DacSettings(**host.settings.extensions.get("dac", {}))
    except Exception as exc:  # pydantic's ValidationError: report it like other settings
        raise SettingsError(f"invalid [extensions.dac] settings: {exc}") from None
    if not settings.enabled:
        return None
    dac = Dac(host, settings)
    app.state.dac = dac
    app.include_router(router)

    @app.exception_handler(DacError)
    async def _dac_error(request: Request, exc: DacError) -> Response:
        return error_response(exc.status, exc.code, exc.message)

    return dac
