"""Running a daemon (a member, a runner) next to a small ``/metrics`` and ``/healthz`` server."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from chain.httplimits import HttpLimits, server_options


async def run_with_metrics(
    main: Coroutine[Any, Any, Any],
    *,
    registry: CollectorRegistry,
    host: str,
    port: int,
    health: Callable[[], dict[str, Any]],
    stop: Callable[[], Coroutine[Any, Any, Any]],
    limits: HttpLimits,
) -> None:
    """Run ``main``; with a ``port``, also serve ``/metrics`` and ``/healthz`` on it (within
    the connection ``limits``). ``stop`` runs at the end, whatever ended the run."""
    tasks = [asyncio.create_task(main)]
    server = None
    if port:
        import uvicorn
        from starlette.applications import Starlette
        from starlette.requests import Request
        from starlette.responses import JSONResponse, Response
        from starlette.routing import Route

        async def metrics(request: Request) -> Response:
            return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

        async def healthz(request: Request) -> Response:
            return JSONResponse({"status": "ok", **health()})

        web = Starlette(routes=[Route("/metrics", metrics), Route("/healthz", healthz)])
        options = server_options(web, limits)
        server = uvicorn.Server(uvicorn.Config(web, host=host, port=port, log_level="warning", **options))
        tasks.append(asyncio.create_task(server.serve()))
    try:
        await asyncio.gather(*tasks)
    finally:
        if server is not None:
            server.should_exit = True
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await stop()
