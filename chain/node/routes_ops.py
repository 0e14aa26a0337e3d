"""Operations: ``/metrics`` (Prometheus), ``/healthz`` (liveness), ``/readyz`` (readiness)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.responses import Response

from chain.node.deps import get_node
from service_shell.apidocs import READINESS_RESPONSES, Health, Readiness
from service_shell.web import JSONResponse

router = APIRouter(tags=["operations"])


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    """Prometheus metrics."""
    node = get_node(request)
    return Response(generate_latest(node.metrics.registry), media_type=CONTENT_TYPE_LATEST)


@router.get("/healthz", response_model=Health)
async def healthz() -> JSONResponse:
    """Liveness: the process answers."""
    return JSONResponse({"status": "ok"})


@router.get(
    "/readyz",
    response_model=Readiness,
    responses=READINESS_RESPONSES,
)
async def readyz(request: Request) -> JSONResponse:
    """Readiness: the block store is loaded and no background task is down (503 with the
    reasons otherwise)."""
    node = get_node(request)
    reasons: dict[str, Any] = {}
    if not node.ready or node.store is None:
        reasons["starting"] = "the block store is loading"
    reasons.update(node.supervisor.reasons())
    if reasons:
        return JSONResponse({"ready": False, "reasons": reasons}, status_code=503)
    return JSONResponse({"ready": True, "head_block_num": node.state.height, "reasons": {}})
