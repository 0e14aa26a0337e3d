"""The node's HTTP API: EOSIO-style ``/v1/chain/*``, ``/v1/node/*``, metrics and health.

Read endpoints accept a JSON body (POST, as EOSIO clients send) or query parameters (GET).
Every error is ``{"error": {"code", "message"}}`` with a 4xx status naming the failed check.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import partial
from typing import Annotated, Any, TypeVar

import orjson
from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.sse import EventSourceResponse, ServerSentEvent
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel
from starlette.responses import Response

from chain.core import format_amount
from chain.core.codec import decode_json
from chain.core.errors import MalformedInput
from chain.core.schedule import is_pending_irreversible
from chain.core.types import is_valid_account_name, validate_hash, validate_signature
from chain.node import schemas
from chain.node.executions_api import router as executions_router
from chain.node.node import SERVER_VERSION, Node, iso_time
from service_shell.apidocs import (
    READ_ERRORS,
    READINESS_RESPONSES,
    SIGNED,
    SIGNED_ERRORS,
    WRITE_ERRORS,
    Health,
    Readiness,
    event_stream,
    install_openapi,
    json_body,
    query_parameters,
)
from service_shell.hotroutes import HotRequest, HotRoute, HotRoutesMiddleware, hot_route_response
from service_shell.metrics import require_single_worker
from service_shell.web import (
    INT64_MAX,
    ApiError,
    BodyLimitMiddleware,
    Int64,
    JSONResponse,
    install_error_handlers,
    int_field,
)

Endpoint = TypeVar("Endpoint", bound=Callable[..., Any])


async def read_params(request: Request) -> dict[str, Any]:
    """Query parameters merged with a JSON object body (EOSIO clients POST their arguments)."""
    params: dict[str, Any] = dict(request.query_params)
    body = await request.body()
    if body.strip():
        try:
            data = decode_json(body)
        except MalformedInput as exc:
            raise ApiError(400, "malformed", exc.message) from None
        if not isinstance(data, dict):
            raise ApiError(400, "malformed", "request body must be a JSON object")
        params.update(data)
    return params


def require_account_name(params: dict[str, Any], *keys: str) -> str:
    for key in keys:
        if key in params:
            name = params[key]
            if not is_valid_account_name(name):
                raise ApiError(400, "invalid_name", f"{key}: {name!r} is not a valid account name")
            return str(name)
    raise ApiError(400, "missing_field", f"missing field {keys[0]}")


def int_param(
    params: dict[str, Any], key: str, default: int, *, minimum: int = 0, maximum: int = 10_000
) -> int:
    """An integer parameter within bounds (a 400 naming ``key`` otherwise)."""
    return int_field(params.get(key, default), key, minimum=minimum, maximum=maximum)


def get_node(request: Request) -> Node:
    node: Node = request.app.state.node
    return node


chain_router = APIRouter(prefix="/v1/chain", tags=["chain"])


def read_endpoint(
    path: str, answer: Any, params: type[BaseModel] = schemas.NoParameters
) -> Callable[[Endpoint], Endpoint]:
    """An EOSIO-style read: ``GET`` with query parameters, or ``POST`` with them as a JSON
    object (both parsed by :func:`read_params`); documented with ``params`` and ``answer``."""

    def register(endpoint: Endpoint) -> Endpoint:
        name = endpoint.__name__
        chain_router.get(
            path,
            response_model=answer,
            operation_id=name,
            openapi_extra={"parameters": query_parameters(params)},
        )(endpoint)
        chain_router.post(
            path,
            response_model=answer,
            operation_id=f"{name}_post",
            openapi_extra=json_body(params, required=False),
        )(endpoint)
        return endpoint

    return register


node_router = APIRouter(prefix="/v1/node", tags=["node"])
ops_router = APIRouter(tags=["operations"])


@read_endpoint("/get_info", schemas.Info)
async def get_info(request: Request) -> JSONResponse:
    """Chain id, head and last irreversible block."""
    node = get_node(request)
    state = node.state
    meta = state.chain
    head = node.head_block
    return JSONResponse(
        {
            "server_version": SERVER_VERSION,
            "chain_id": node.chain_id,
            "network": node.genesis.network,
            "head_block_num": meta.height,
            "head_block_id": state.head_id,
            "head_block_time": iso_time(head.header.timestamp if head else node.genesis.genesis_time),
            "head_block_slot": meta.slot,
            "head_block_producer": head.header.producer if head else "",
            "last_irreversible_block_num": node.store.lib_height if node.store else meta.lib_height,
            "last_irreversible_block_id": node.store.lib_id if node.store else state.lib_id,
            "genesis_time": node.genesis.genesis_time,
            "slot_ms": node.params.slot_ms,
            "symbol": state.symbol,
            "current_slot": node.current_slot(),
            "mempool_size": len(node.mempool),
            "producer_accounts": sorted(node.keys),
            "params": node.params.to_dict(),
        }
    )


@read_endpoint("/get_block", schemas.BlockView, schemas.BlockRef)
async def get_block(request: Request) -> Response:
    """A block by number (canonical chain) or by id."""
    node = get_node(request)
    params = await read_params(request)
    ref = params.get("block_num_or_id")
    if ref is None:
        raise ApiError(400, "missing_field", "missing field block_num_or_id")
    ref_str = str(ref)
    if type(ref) is int or (isinstance(ref, str) and ref.isascii() and ref.isdigit()):
        found = node.blockstore.get_canonical(int_field(ref, "block_num_or_id"))
    elif isinstance(ref, str) and len(ref_str) == 64:
        found = node.blockstore.get(ref_str.lower())
    else:
        raise ApiError(400, "malformed", f"block_num_or_id: {ref!r} is neither a height nor a block id")
    if found is None:
        if ref_str == "0" or ref_str == node.chain_id:
            raise ApiError(404, "not_found", "height 0 is the genesis; its id is the chain id")
        raise ApiError(404, "not_found", f"no block {ref_str}")
    block_id, data = found
    block = orjson.loads(data)
    header = block["header"]
    block.update(
        {
            "id": block_id,
            "block_num": header["height"],
            "timestamp_iso": iso_time(header["timestamp"]),
        }
    )
    return JSONResponse(block)


@read_endpoint("/get_account", schemas.Account, schemas.AccountRef)
async def get_account(request: Request) -> JSONResponse:
    """An account: key, balance, nonce, producer record, delegations and unbonding."""
    node = get_node(request)
    name = require_account_name(await read_params(request), "account_name", "account")
    state = node.state
    account = state.accounts.get(name)
    if account is None:
        raise ApiError(404, "unknown_account", f"account {name} does not exist")
    producer = state.producers.get(name)
    delegated = [
        {"producer": p, "amount": amount, "amount_formatted": format_amount(amount, state.symbol)}
        for p, record in sorted(state.producers.items())
        for delegator, amount in record.delegations
        if delegator == name
    ]
    unbonding = state.unbonding.get(name)
    return JSONResponse(
        {
            "account_name": name,
            "key": account.key,
            "balance": format_amount(account.balance, state.symbol),
            "balance_units": account.balance,
            "nonce": account.nonce,
            "pending_transactions": node.mempool.pending_count(name),
            "next_nonce": node.mempool.next_nonce(name, account.nonce),
            "producer": _producer_row(node, name) if producer else None,
            "delegated": delegated,
            "unbonding": [
                {"producer": p, "amount": a, "created_slot": c, "completion_slot": done}
                for p, a, c, done in (unbonding.entries if unbonding else ())
            ],
        }
    )


@read_endpoint("/get_currency_balance", list[str], schemas.BalanceRef)
async def get_currency_balance(request: Request) -> JSONResponse:
    """An account's balance as EOSIO returns it: ``["12.3456 BPT"]``."""
    node = get_node(request)
    params = await read_params(request)
    name = require_account_name(params, "account")
    symbol = params.get("symbol", node.state.symbol)
    if symbol != node.state.symbol:
        return JSONResponse([])
    account = node.state.accounts.get(name)
    if account is None:
        raise ApiError(404, "unknown_account", f"account {name} does not exist")
    return JSONResponse([format_amount(account.balance, node.state.symbol)])


def _producer_row(node: Node, name: str) -> dict[str, Any]:
    state = node.state
    p = state.producers[name]
    return {
        "owner": name,
        "producer_key": state.accounts[name].key if name in state.accounts else "",
        "url": p.url,
        "total_stake": p.stake,
        "total_stake_formatted": format_amount(p.stake, state.symbol),
        "is_active": name in state.chain.schedule,
        "jailed": p.jailed,
        "jailed_until": p.jailed_until,
        "tombstoned": p.tombstoned,
        "produced_blocks": p.produced_total,
        "missed_slots": p.missed_total,
        "liveness_window_missed": p.window_missed,
        "liveness_window_size": len(p.window),
        "last_produced_height": p.last_produced_height,
        "delegators": len(p.delegations),
    }


@read_endpoint("/get_producers", schemas.Producers, schemas.ProducersQuery)
async def get_producers(request: Request) -> JSONResponse:
    """Registered producers by stake (largest first)."""
    node = get_node(request)
    params = await read_params(request)
    limit = int_param(params, "limit", 50, minimum=1, maximum=1000)
    lower_bound = str(params.get("lower_bound", ""))
    state = node.state
    names = sorted(state.producers, key=lambda n: (-state.producers[n].stake, n))
    if lower_bound:
        names = [n for n in names if n >= lower_bound]
    rows = [_producer_row(node, n) for n in names[:limit]]
    return JSONResponse(
        {
            "rows": rows,
            "total_producer_stake": sum(p.stake for p in state.producers.rows.values()),
            "more": names[limit] if len(names) > limit else "",
        }
    )


@read_endpoint("/get_producer_schedule", schemas.Schedule)
async def get_producer_schedule(request: Request) -> JSONResponse:
    """The active schedule and the pending one (with whether it is irreversible yet)."""
    node = get_node(request)
    state = node.state
    meta = state.chain

    def producers(names: tuple[str, ...]) -> list[dict[str, str]]:
        return [
            {
                "producer_name": n,
                "block_signing_key": state.accounts[n].key if n in state.accounts else "",
            }
            for n in names
        ]

    pending = None
    if meta.pending_schedule:
        pending = {
            "version": meta.schedule_version + 1,
            "producers": producers(meta.pending_schedule),
            "proposed_at_block": meta.pending_height,
            "irreversible": is_pending_irreversible(meta),
        }
    return JSONResponse(
        {
            "active": {"version": meta.schedule_version, "producers": producers(meta.schedule)},
            "pending": pending,
            "proposed": None,
            "repetitions": node.params.producer_repetitions,
        }
    )


# --- the hot write endpoints ---------------------------------------------------------------
# Served by the HTTP protocol itself under ``bppool chain node`` (service_shell.hotroutes): the routes
# below document them (OpenAPI) and answer the same way when reached through the ASGI app.


def _json_body(request: HotRequest) -> Any:
    try:
        return decode_json(request.body)
    except MalformedInput as exc:
        raise ApiError(400, "malformed", exc.message) from None


def _head_answer(node: Node, block_id: str, status: str) -> dict[str, Any]:
    state = node.state
    return {
        "block_id": block_id,
        "status": status,
        "head_block_num": state.height,
        "head_block_id": state.head_id,
    }


async def hot_push_transaction(node: Node, request: HotRequest) -> tuple[int, Any]:
    """Admit a signed transaction to the mempool."""
    tx = node.submit_transaction(_json_body(request))
    return 202, {
        "transaction_id": tx.id,
        "processed": {"status": "pending", "mempool_size": len(node.mempool)},
    }


async def hot_push_block(node: Node, request: HotRequest) -> tuple[int, Any]:
    """Take a signed block."""
    block, result = await node.submit_block(_json_body(request))
    return 200, _head_answer(node, block.id, result.status)


async def hot_prepare_block(node: Node, request: HotRequest) -> tuple[int, Any]:
    """Validate a producer's candidate ahead of its signature."""
    block = await node.prepare_block(request.headers, request.body, request.path)
    return 200, {"block_id": block.id, "prepared": True}


async def hot_commit_block(node: Node, request: HotRequest) -> tuple[int, Any]:
    """Take a prepared block with its producer's signature."""
    body = _json_body(request) if request.body.strip() else {}
    block_id = body.get("block_id") if isinstance(body, dict) else None
    signature = body.get("producer_signature") if isinstance(body, dict) else None
    if not isinstance(block_id, str) or not isinstance(signature, str):
        raise ApiError(400, "malformed", "expected {block_id, producer_signature}")
    # Verify both are spelled canonically (lowercase hex of their exact length)
    validate_hash(block_id, "block_id")
    validate_signature(signature, "producer_signature")
    block, result = await node.commit_block(block_id, signature)
    return 200, _head_answer(node, block.id, result.status)


@chain_router.post(
    "/push_transaction",
    status_code=202,
    response_model=schemas.Pushed,
    responses=WRITE_ERRORS,
    openapi_extra=json_body(schemas.Transaction),
)
async def push_transaction(request: Request) -> Response:
    """Submit a signed transaction to the mempool (202: accepted, not yet in a block)."""
    return await hot_route_response(request)


@node_router.post(
    "/push_block",
    response_model=schemas.HeadAnswer,
    responses=WRITE_ERRORS,
    openapi_extra=json_body(schemas.Block),
)
async def push_block(request: Request) -> Response:
    """Submit a signed block (from a producer, the pool emitter or a peer)."""
    return await hot_route_response(request)


@node_router.post(
    "/prepare_block",
    response_model=schemas.Prepared,
    responses=SIGNED_ERRORS,
    openapi_extra={**json_body(schemas.Block), **SIGNED},
)
async def prepare_block(request: Request) -> Response:
    """Validate a candidate of the slot's scheduled producer ahead of its signature (a request
    signed by that producer, as the pool protocol signs requests)."""
    return await hot_route_response(request)


@node_router.post(
    "/commit_block",
    response_model=schemas.HeadAnswer,
    responses=WRITE_ERRORS,
    openapi_extra=json_body(schemas.CommitBlock),
)
async def commit_block(request: Request) -> Response:
    """Accept a prepared block with its producer's signature: ``{block_id, producer_signature}``."""
    return await hot_route_response(request)


@node_router.get("/blocks", response_model=list[schemas.Block])
async def blocks(
    request: Request,
    from_height: Annotated[int, Query(ge=1, le=INT64_MAX)] = 1,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Response:
    """Canonical blocks from ``from_height`` up (peer sync)."""
    node = get_node(request)
    datas = node.blockstore.canonical_range(from_height, limit)
    return Response(b"[" + b",".join(datas) + b"]", media_type="application/json")


@node_router.get("/mempool", response_model=list[schemas.Transaction])
async def mempool(request: Request, limit: Annotated[int, Query(ge=1, le=100_000)] = 1000) -> JSONResponse:
    """Pending transactions in the order a block would take them (highest fee first)."""
    node = get_node(request)
    return JSONResponse([tx.to_dict() for tx in node.mempool.select(node.state, limit)])


@node_router.get("/mempool/updates", response_model=schemas.MempoolUpdates)
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


@node_router.get(
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


@ops_router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    """Prometheus metrics."""
    node = get_node(request)
    return Response(generate_latest(node.metrics.registry), media_type=CONTENT_TYPE_LATEST)


@ops_router.get("/healthz", response_model=Health)
async def healthz() -> JSONResponse:
    """Liveness: the process answers."""
    return JSONResponse({"status": "ok"})


@ops_router.get(
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


def create_app(node: Node, *, repair: bool = False) -> FastAPI:
    """The ASGI app around ``node``; its lifespan starts and stops the node."""
    require_single_worker()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await node.start(repair=repair)
        try:
            yield
        finally:
            await node.stop()

    app = FastAPI(
        title="bppool chain node",
        version=SERVER_VERSION,
        description="EOSIO-style API of the bundled bppool chain.",
        lifespan=lifespan,
        default_response_class=JSONResponse,
    )
    app.state.node = node
    install_error_handlers(app)
    install_openapi(app)
    for router in (chain_router, node_router, executions_router, ops_router):
        app.include_router(router, responses=READ_ERRORS)
    settings = node.settings
    app.add_middleware(BodyLimitMiddleware, limit=settings.max_transaction_bytes)
    # The hot write endpoints: served by the HTTP protocol under ``run_app`` (service_shell.hotroutes),
    # by this middleware under any other ASGI server.
    block_bytes, tx_bytes = settings.max_block_bytes, settings.max_transaction_bytes
    app.state.hot_routes = {
        ("POST", "/v1/chain/push_transaction"): HotRoute(partial(hot_push_transaction, node), tx_bytes),
        ("POST", "/v1/node/push_block"): HotRoute(partial(hot_push_block, node), block_bytes),
        ("POST", "/v1/node/prepare_block"): HotRoute(
            partial(hot_prepare_block, node), block_bytes, started=node.prepare_started, signed=True
        ),
        ("POST", "/v1/node/commit_block"): HotRoute(partial(hot_commit_block, node), tx_bytes),
    }
    app.add_middleware(HotRoutesMiddleware, routes=app.state.hot_routes)
    return app
