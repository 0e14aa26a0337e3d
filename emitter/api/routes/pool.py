"""Pool information and the constitution."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import PlainTextResponse

from emitter.api import schemas
from emitter.api.deps import EmitterDep
from service_shell.web import JSONResponse

router = APIRouter(prefix="/v1/pool", tags=["pool"])


@router.get("/info", response_model=schemas.PoolInfo)
async def info(emitter: EmitterDep) -> JSONResponse:
    """The pool: account, chain, strategy, fallback, timing, constitution hash, next slots."""
    state = emitter.follower.state
    run = emitter.run
    return JSONResponse(
        {
            "pool": emitter.pool,
            "chain_id": emitter.chain_id,
            "strategy": emitter.strategy_name,
            "fallback": emitter.fallback,
            "slot_ms": emitter.params.slot_ms,
            "cutoff_ms": emitter.settings.cutoff_ms,
            "grace_ms": emitter.settings.grace_ms,
            "genesis_time": emitter.genesis.genesis_time,
            "constitution_hash": emitter.constitution_hash,
            "in_schedule": emitter.pool in state.chain.schedule,
            "head_block_num": state.height,
            "head_block_id": state.head_id,
            "open_slot": run.slot if run else None,
            "next_pool_slots": emitter.next_pool_slots(12) if emitter.ready else [],
            "members": sum(1 for m in emitter.members.values() if m["status"] == "active"),
            "ready": emitter.ready,
            "instance": emitter.group.instance,
            "leader": emitter.group.holder,
        }
    )


@router.get(
    "/constitution",
    response_class=PlainTextResponse,
    responses={
        200: {
            "description": "The constitution's text",
            "headers": {
                "X-BP-Constitution-Hash": {"description": "its sha256", "schema": {"type": "string"}}
            },
        }
    },
)
async def constitution(emitter: EmitterDep) -> PlainTextResponse:
    """The constitution members sign (its sha256 is ``constitution_hash``)."""
    return PlainTextResponse(
        emitter.constitution_text, headers={"x-bp-constitution-hash": emitter.constitution_hash}
    )
