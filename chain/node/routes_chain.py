"""``/v1/chain/*`` reads: chain info, blocks, accounts, balances, producers, the schedule and
the state's records (``get_table_rows``).

EOSIO-style: each answers ``GET`` with query parameters and ``POST`` with them as a JSON
object (:func:`read_endpoint`), and both are documented in the OpenAPI.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import orjson
from fastapi import APIRouter, Request
from pydantic import BaseModel
from starlette.responses import Response

from chain.core import format_amount
from chain.core.execution_records import EXECUTION_TABLES
from chain.core.schedule import is_pending_irreversible
from chain.core.state import compute_state_root, encode_record
from chain.node import schemas
from chain.node.deps import get_node, int_param, read_params, require_account_name
from chain.node.node import SERVER_VERSION, Node, iso_time
from service_shell.apidocs import json_body, query_parameters
from service_shell.web import ApiError, JSONResponse, int_field

Endpoint = TypeVar("Endpoint", bound=Callable[..., Any])

# The tables of the state root (``blocks`` is not one of them).
STATE_TABLES = frozenset({"meta", "accounts", "producers", "unbonding", *EXECUTION_TABLES})

router = APIRouter(prefix="/v1/chain", tags=["chain"])


def read_endpoint(
    path: str, answer: Any, params: type[BaseModel] = schemas.NoParameters
) -> Callable[[Endpoint], Endpoint]:
    """An EOSIO-style read: ``GET`` with query parameters, or ``POST`` with them as a JSON
    object (both parsed by :func:`read_params`); documented with ``params`` and ``answer``."""

    def register(endpoint: Endpoint) -> Endpoint:
        name = endpoint.__name__
        router.get(
            path,
            response_model=answer,
            operation_id=name,
            openapi_extra={"parameters": query_parameters(params)},
        )(endpoint)
        router.post(
            path,
            response_model=answer,
            operation_id=f"{name}_post",
            openapi_extra=json_body(params, required=False),
        )(endpoint)
        return endpoint

    return register


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


@read_endpoint("/get_table_rows", schemas.TableRows, schemas.TableRowsQuery)
async def get_table_rows(request: Request) -> JSONResponse:
    """A page of one state table's records at the head block, with the canonical bytes the
    state root is made of (``docs/spec/state.md`` §10): paging through every table, a member
    rebuilds the root in a header without trusting this node's decoding (the node serves no
    inclusion proof of a single record)."""
    node = get_node(request)
    params = await read_params(request)
    state = node.state
    committed = sorted(STATE_TABLES)
    name = params.get("table")
    if not isinstance(name, str) or not name:
        raise ApiError(400, "missing_field", f"missing field table (one of {', '.join(committed)})")
    table = state.tables.get(name)
    if name not in STATE_TABLES or (table is not None and not table.committed):
        known = ", ".join(committed)
        raise ApiError(404, "unknown_table", f"table: no state table {name!r} (one of {known})")
    limit = int_param(params, "limit", 10, minimum=1, maximum=1000)
    lower = _bound(params, "lower_bound")
    upper = _bound(params, "upper_bound")
    as_json = params.get("json", True)
    if not isinstance(as_json, bool):
        if as_json in ("true", "false"):  # a query string's spelling
            as_json = as_json == "true"
        else:
            raise ApiError(400, "invalid_field", "json: must be true or false")
    low, high = lower.encode(), upper.encode()
    rows_of = table.rows if table is not None else {}  # an execution table before its first record
    in_range = (k for k in rows_of if k.encode() >= low and (not high or k.encode() <= high))
    keys = sorted(in_range, key=str.encode)
    rows = []
    for key in keys[:limit]:
        record = rows_of[key]
        row: dict[str, Any] = {
            "key": key,
            "leaf_key_hex": f"{name}/{key}".encode().hex(),
            "value_hex": encode_record(record).hex(),
        }
        if as_json:
            row["fields"] = record._asdict()  # JSONResponse writes nested records as arrays
        rows.append(row)
    return JSONResponse(
        {
            "table": name,
            "head_block_num": state.chain.height,
            "head_block_id": state.head_id,
            "state_root": compute_state_root(state),
            "rows": rows,
            "more": len(keys) > limit,
            "next_key": keys[limit] if len(keys) > limit else "",
        }
    )


def _bound(params: dict[str, Any], key: str) -> str:
    """A key bound: a string of at most 256 characters (a 400 naming ``key`` otherwise)."""
    value = params.get(key, "")
    if not isinstance(value, str) or len(value) > 256:
        raise ApiError(400, "invalid_field", f"{key}: must be a string of at most 256 characters")
    return value
