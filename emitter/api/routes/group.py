"""The emitter group: who leads, which instances are alive, the signing watermark."""

from __future__ import annotations

from fastapi import APIRouter

from emitter import leasestore
from emitter.api import schemas
from emitter.api.deps import EmitterDep
from service_shell.web import JSONResponse

router = APIRouter(prefix="/v1/pool", tags=["group"])


@router.get("/group", response_model=schemas.Group)
async def group(emitter: EmitterDep) -> JSONResponse:
    """The group as this instance sees it: the lease holder (fencing epoch, time left on the
    database's clock), every instance on record (alive: seen within three lease lifetimes),
    and the signing watermark and ceiling. On SQLite: the single instance."""
    grp = emitter.group
    lease = leasestore.get_lease(emitter.engine)
    now, rows = leasestore.list_instances(emitter.engine)
    horizon = 3 * grp.ttl_ms
    held = lease is not None and lease["holder"] is not None and lease["expires_ms"] > lease["now_ms"]
    holder = lease["holder"] if held and lease is not None else None
    signer = emitter.claims.signer() or {}
    instances = [
        {
            "instance": r["instance"],
            "url": r["url"],
            "alive": now - r["seen_ms"] <= horizon,
            "seen_ms_ago": max(0, now - r["seen_ms"]),
            "leader": r["instance"] == holder,
        }
        for r in rows
        if grp.shared or r["instance"] == grp.instance
    ]
    leader = None
    if lease is not None and held:
        leader = {
            "instance": lease["holder"],
            "url": lease["holder_url"],
            "epoch": lease["epoch"],
            "expires_in_ms": min(lease["expires_ms"] - lease["now_ms"], 2**53),
        }
    return JSONResponse(
        {
            "shared": grp.shared,
            "instance": grp.instance,
            "leads": grp.leads(),
            "leader": leader,
            "size": sum(1 for i in instances if i["alive"]),
            "instances": instances,
            "signing": {
                "watermark": signer.get("watermark"),
                "ceiling": signer.get("ceiling"),
                "chain_slot": signer.get("chain_slot"),
            },
        }
    )
