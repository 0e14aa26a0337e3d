"""``/v1/node/*`` reads: canonical blocks (peer sync), the mempool and its updates (replicas),
and the head stream (server-sent events).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.sse import EventSourceResponse, ServerSentEvent
from starlette.responses import Response

from chain.client import schemas as wire
from chain.core.types import ACCOUNT_NAME_PATTERN, INT64_MAX
from chain.node import schemas
from chain.node.deps import get_node
from service_shell.apidocs import event_stream
from service_shell.web import Int64, JSONResponse

router = APIRouter(prefix="/v1/node", tags=["node"])


@router.get("/blocks", response_model=list[wire.Block])
async def blocks(
    request: Request,
    from_height: Annotated[int, Query(ge=1, le=INT64_MAX)] = 1,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Response:
    """Canonical blocks from ``from_height`` up (peer sync)."""
    node = get_node(request)
    datas = node.blockstore.canonical_range(from_height, limit)
    return Response(b"[" + b",".join(datas) + b"]", media_type="application/json")


@router.get("/producer_last_block", response_model=schemas.ProducerLastBlock)
async def producer_last_block(
    request: Request, producer: Annotated[str, Query(pattern=ACCOUNT_NAME_PATTERN)]
) -> JSONResponse:
    """The block of ``producer`` with the highest slot this node holds, canonical or on a
    side branch: a signer's watermark starts above it (a pool's emitters read it at start)."""
    node = get_node(request)
    found = node.blockstore.last_block_of(producer)
    return JSONResponse(
        {
            "producer": producer,
            "slot": found["slot"] if found else None,
            "block_num": found["height"] if found else None,
            "id": found["id"] if found else None,
            "canonical": found["canonical"] if found else None,
        }
    )


@router.get("/mempool", response_model=list[wire.Transaction])
async def mempool(request: Request, limit: Annotated[int, Query(ge=1, le=100_000)] = 1000) -> JSONResponse:
    """Pending transactions in the order a block would take them (highest fee first)."""
    node = get_node(request)
    return JSONResponse([tx.to_dict() for tx in node.mempool.select(node.state, limit)])


@router.get("/mempool/updates", response_model=schemas.MempoolUpdates)
async def mempool_updates(
    request: Request, after_seq: Int64 = 0, limit: Annotated[int, Query(ge=1, le=100_000)] = 5000
) -> JSONResponse:
    """Pending transactions that arrived after ``after_seq``, oldest first, with their sequence
    numbers and the one to ask from next (followers mirror the mempool with this)."""
    node = get_node(request)
    txs = node.mempool.updates(after_seq, limit)
    last = node.mempool.seq_of(txs[-1].id) if txs else max(after_seq, 0)
    if not txs and after_seq > node.mempool.last_seq:
        last = node.mempool.last_seq  # the node restarted: start over
    return JSONResponse(
        {
            "last_seq": last,
            "transactions": [tx.to_dict() for tx in txs],
            # Each transaction's number here: replicas keep it, so they order (and cut) the
            # pending set exactly as this node does.
            "seqs": [node.mempool.seq_of(tx.id) for tx in txs],
        }
    )


@router.get(
    "/head_stream",
    response_class=EventSourceResponse,
    responses=event_stream(
        {
            "hello": "chain id, head and mempool_seq; first",
            "head": "a head change, with the blocks applied and reverted",
            "lib": "the last irreversible block moved",
            "mempool": "transactions admitted since the last one (with include_mempool)",
        },
        "The node's head, as it changes.",
    ),
)
async def head_stream(
    request: Request, include_blocks: bool = False, include_mempool: bool = False
) -> AsyncIterator[ServerSentEvent]:
    """Server-sent events: ``head`` on every head change, ``lib`` when the LIB moves; with
    ``include_mempool``, ``mempool`` with the transactions admitted since the last one (and
    their sequence numbers, as ``/v1/node/mempool/updates`` gives them). ``hello`` comes
    first, with ``mempool_seq``: the stream holds every transaction numbered after it."""
    node = get_node(request)
    state = node.state
    events = node.events.subscribe()  # before the hello: nothing after it is missed
    yield ServerSentEvent(
        event="hello",
        raw_data=orjson.dumps(
            {
                "chain_id": node.chain_id,
                "height": state.height,
                "id": state.head_id,
                "slot": state.slot,
                "mempool_seq": node.mempool.last_seq,
            }
        ).decode(),
    )
    async for event, data in events:
        if event == "head" and not include_blocks:
            data = {k: v for k, v in data.items() if k != "blocks"}
        elif event == "mempool" and not include_mempool:
            continue
        yield ServerSentEvent(event=event, raw_data=orjson.dumps(data).decode())
