"""The pool service app: ``create_app(settings)`` with a lifespan that runs the emitter."""

from __future__ import annotations

from functools import partial
from importlib.metadata import entry_points

from fastapi import APIRouter, FastAPI, Request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.responses import Response

from emitter.api.deps import get_emitter
from emitter.api.errors import install_emitter_errors
from emitter.api.leader import LeaderWrites
from emitter.api.routes import candidates, events, group, members, pool, slots
from emitter.service import Emitter
from service_shell.apidocs import READINESS_RESPONSES, Health, Readiness
from service_shell.hotroutes import HotRoute
from service_shell.web import JSONResponse, mount_routes, service_app

ops = APIRouter(tags=["operations"])


@ops.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    return Response(generate_latest(get_emitter(request).metrics.registry), media_type=CONTENT_TYPE_LATEST)


@ops.get("/healthz", response_model=Health)
async def healthz() -> JSONResponse:
    """Liveness."""
    return JSONResponse({"status": "ok"})


@ops.get("/readyz", response_model=Readiness, responses=READINESS_RESPONSES)
async def readyz(request: Request) -> JSONResponse:
    """Readiness: slots are being run on a replica that follows the node's canonical head, the
    storage takes writes (``storage`` names its error otherwise) and no background task is down
    (503 with the reasons otherwise)."""
    emitter = get_emitter(request)
    reasons = emitter.not_ready()
    body = {
        "ready": not reasons,
        "following": "following" not in reasons,
        "head_block_num": emitter.follower.state.height,
        "storage": emitter.storage.describe(),
        "reasons": reasons,
    }
    return JSONResponse(body, status_code=503 if reasons else 200)


EXTENSION_GROUP = "bppool.pool_extensions"


def load_extensions(app: FastAPI, emitter: Emitter) -> list[str]:
    """Install every pool-service extension registered under the ``bppool.pool_extensions``
    entry-point group (the DAC is one): each gets the app and the emitter, and may mount
    routers and attach itself to the emitter's life cycle."""
    names = []
    for entry in sorted(entry_points(group=EXTENSION_GROUP), key=lambda e: e.name):
        install = entry.load()
        install(app, emitter)
        names.append(entry.name)
    return names


def create_app(emitter: Emitter, *, start: bool = True, extensions: bool = True) -> FastAPI:
    """The pool service around ``emitter`` (its lifespan starts and stops it), with the
    registered extensions unless ``extensions`` is false."""
    app = service_app(
        title="bppool pool service",
        version="0.1.0",
        description="The pool's block emitter: membership, slot feed, candidate intake, event log.",
        start=emitter.start if start else None,
        stop=emitter.stop if start else None,
    )
    app.state.emitter = emitter
    install_emitter_errors(app)
    app.state.extensions = load_extensions(app, emitter) if extensions else []
    # The intake is a hot route: uvicorn's protocol serves it itself under ``run_app`` (see
    # service_shell.hotroutes); a middleware serves it the same way under any other ASGI server.
    intake = HotRoute(partial(candidates.intake, emitter), emitter.settings.max_candidate_bytes, signed=True)
    # In a group the lease holder makes every write but the intake: the others forward them
    # (inside the body limit, which is added after it and so runs before it).
    if emitter.group.shared:
        app.add_middleware(LeaderWrites, emitter=emitter)
    mount_routes(
        app,
        (pool.router, members.router, slots.router, candidates.router, events.router, group.router, ops),
        body_limit=emitter.settings.max_request_bytes,
        hot_routes={("POST", "/v1/pool/candidates"): intake},
    )
    return app
