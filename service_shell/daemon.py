"""Running a daemon (a member, a runner) next to a small ``/metrics``, ``/healthz`` and
``/readyz`` server."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from service_shell.httplimits import HttpLimits, server_options
from service_shell.supervisor import Supervisor


async def run_with_metrics(
    main: Coroutine[Any, Any, Any],
    *,
    registry: CollectorRegistry,
    host: str,
    port: int,
    health: Callable[[], dict[str, Any]],
    stop: Callable[[], Coroutine[Any, Any, Any]],
    limits: HttpLimits,
    supervisor: Supervisor | None = None,
) -> None:
    """Run ``main``; with a ``port``, also serve ``/metrics``, ``/healthz`` and ``/readyz``
    on it (within the connection ``limits``; ``/readyz`` answers 503 naming the
    ``supervisor``'s tasks that are down). ``stop`` runs at the end, whatever ended the run."""
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

        async def readyz(request: Request) -> Response:
            reasons = supervisor.reasons() if supervisor is not None else {}
            return JSONResponse(
                {"ready": not reasons, "reasons": reasons}, status_code=503 if reasons else 200
            )

        web = Starlette(
            routes=[Route("/metrics", metrics), Route("/healthz", healthz), Route("/readyz", readyz)]
        )
        options = server_options(web, limits)
        server = uvicorn.Server(uvicorn.Config(web, host=host, port=port, log_level="warning", **options))
        tasks.append(asyncio.create_task(server.serve()))
    try:
        # Not gather: cancelling this run must leave the server to close its sockets itself.
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            task.result()
    finally:
        tasks[0].cancel()
        if server is not None:
            # Let the server close its sockets itself; cancel it only if it does not.
            server.should_exit = True
            await asyncio.wait(tasks[1:], timeout=5)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await stop()
