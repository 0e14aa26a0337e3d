"""``/v1/producer/*``: the node builds a pool slot's candidate for a member (``build_candidate``).

A pool member needs the block its pool expects for a slot: on the slot's parent, the
mempool's selection of the transactions numbered up to the slot's ``tx_seq``, its roots
computed by the chain's own transition (``docs/spec/transition.md``). Building it takes a
replica of the chain and its state transition; with this endpoint the member's own node
builds it (as an Antelope producer's nodeos does, or an Ethereum validator's execution client
through the Engine API's ``getPayload``), and a member needs only HTTP and ed25519: it signs
the answer's ``signing_digest`` as builder and delivers the block.

The endpoint is restricted: only the accounts in the node's ``builders`` setting may ask, by a
request signed with the account's key on chain (the pool protocol's request signature, the
pool being the block's producer; ``docs/spec/encoding.md``). Without ``builders`` it answers 403.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from chain.core import build_block
from chain.core.crypto import DOMAIN_CANDIDATE, compute_signing_digest
from chain.node import schemas
from chain.node.deps import get_node, read_params, require_account_name
from service_shell.apidocs import SIGNED, SIGNED_ERRORS, json_body
from service_shell.web import ApiError, JSONResponse, int_field

router = APIRouter(prefix="/v1/producer", tags=["producer"])

PATH = "/v1/producer/build_candidate"


@router.post(
    "/build_candidate",
    response_model=schemas.BuiltCandidate,
    responses=SIGNED_ERRORS,
    openapi_extra={**json_body(schemas.BuildCandidateRequest), **SIGNED},
)
async def build_candidate(request: Request) -> Response:
    """The unsigned candidate of a pool slot, built on the node's head from its mempool the way
    the pool's expected block is (a request signed by one of the node's ``builders``)."""
    node = get_node(request)
    body = await request.body()
    verifier = node.builder_verifier
    signed = verifier.read(request.headers)
    if request.url.query:
        # The signature covers the path and the body: nothing else may say what to build.
        raise ApiError(
            400, "malformed", "build_candidate takes its parameters in the JSON body only, not the query"
        )
    params = await read_params(request)
    producer = require_account_name(params, "producer")
    builder = require_account_name(params, "builder")
    slot = int_field(params.get("slot"), "slot", minimum=1, maximum=2**62)
    tx_seq = params.get("tx_seq")
    max_seq = None if tx_seq is None else int_field(tx_seq, "tx_seq", minimum=0, maximum=2**62)
    builders = node.settings.builders
    if builder not in builders:
        raise ApiError(
            403,
            "not_a_builder",
            f"builder: {builder} may not ask this node to build"
            + (" (it has no builders configured)" if not builders else ""),
        )
    if signed.member != builder:
        raise ApiError(401, "unauthenticated", "build_candidate needs a request signed by the builder")
    async with node.lock:
        state = node.state
        account = state.accounts.get(builder)
        if account is None:
            raise ApiError(401, "unauthenticated", f"builder: {builder} has no account on this chain")
        verifier.verify(signed, account.key, pool=producer, method="POST", path=PATH, body=body)
        limit = state.params.max_block_transactions
        max_tx = params.get("max_transactions")
        if max_tx is not None:
            limit = int_field(max_tx, "max_transactions", minimum=0, maximum=limit)
        transactions = node.mempool.select(state, limit, max_seq=max_seq)
        # A ChainError is a 4xx naming the rule (wrong producer for the slot, a slot not after
        # the head), mapped as everywhere else.
        built = build_block(
            state,
            slot=slot,
            producer=producer,
            builder=builder,
            transactions=transactions,
            sig_cache=node.sig_cache,
            max_transactions=limit,
        )
        head_id = state.head_id
    block = built.block
    header = block.header
    answer: dict[str, Any] = {
        "block": block.to_dict(),
        "header_canonical_hex": header.canonical.hex(),
        "signing_domain": DOMAIN_CANDIDATE.decode(),
        "signing_digest": compute_signing_digest(DOMAIN_CANDIDATE, header.canonical).hex(),
        "block_id": block.id,
        "prev_id": head_id,
        "tx_seq": max_seq,
        "rejected": len(built.rejected),
    }
    return JSONResponse(answer)
