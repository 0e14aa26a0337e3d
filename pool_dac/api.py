"""The DAC's HTTP API, mounted in the pool service under ``/v1/dac``.

Writes are requests signed by members (the pool protocol's ``X-BP-*`` headers); ballots,
constitution signatures and rulings are also signed documents kept for audit.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from pool_dac import crud, schemas
from pool_dac.core.params import describe_parameters
from pool_dac.core.statement import compute_row_proof
from pool_dac.service import Dac
from service_shell.apidocs import READ_ERRORS, SIGNED, SIGNED_ERRORS, WRITE_ERRORS, json_body
from service_shell.web import ApiError, Int64, JSONResponse, read_json

router = APIRouter(prefix="/v1/dac", tags=["dac"], responses=READ_ERRORS)


def get_dac(request: Request) -> Dac:
    dac: Dac = request.app.state.dac
    return dac


DacDep = Annotated[Dac, Depends(get_dac)]


async def signed_member(request: Request) -> str:
    """The active member behind a signed request."""
    dac = get_dac(request)
    row = dac.host.authenticate_request(
        request.headers, method=request.method, path=request.scope["path"], body=await request.body()
    )
    return str(row["account"])


MemberDep = Annotated[str, Depends(signed_member)]


@router.get("/constitution", response_model=schemas.Constitution)
async def constitution(dac: DacDep) -> JSONResponse:
    """The latest constitution: version, hash, text and who signed it."""
    return JSONResponse(dac.constitution())


@router.get("/constitution/versions", response_model=schemas.ConstitutionVersions)
async def constitution_versions(dac: DacDep) -> JSONResponse:
    """Every version the pool adopted."""
    return JSONResponse(
        {"versions": [{k: v for k, v in c.items() if k != "text"} for c in crud.constitutions(dac.engine)]}
    )


@router.post(
    "/constitution/sign",
    response_model=schemas.Signed,
    responses=SIGNED_ERRORS,
    openapi_extra={**json_body(schemas.ConstitutionSignature), **SIGNED},
)
async def sign_constitution(request: Request, dac: DacDep, member: MemberDep) -> JSONResponse:
    """Sign the latest constitution (a member is active only once it did)."""
    return JSONResponse(dac.sign_constitution(member, await read_json(request)))


@router.get("/parameters", response_model=schemas.Parameters)
async def parameters(dac: DacDep) -> JSONResponse:
    """The governed parameters, their values and what they mean."""
    return JSONResponse({"values": dac.params.to_dict(), "descriptions": describe_parameters()})


@router.get("/proposals", response_model=schemas.Proposals)
async def proposals(dac: DacDep, state: str | None = None, limit: Int64 = 50) -> JSONResponse:
    """Proposals, newest first (with their state now and their tally)."""
    rows = crud.list_proposals(dac.engine, limit=min(max(limit, 1), 500))
    found = [dac.proposal(r["id"]) for r in rows]
    if state:
        found = [p for p in found if p["state"] == state]
    return JSONResponse({"proposals": found})


@router.post(
    "/proposals",
    status_code=201,
    response_model=schemas.ProposalView,
    responses=SIGNED_ERRORS,
    openapi_extra={**json_body(schemas.Proposal), **SIGNED},
)
async def propose(request: Request, dac: DacDep, member: MemberDep) -> JSONResponse:
    """Propose: ``{kind, payload, description}`` (admit_member, remove_member, set_parameter,
    amend_constitution, treasury_spend)."""
    return JSONResponse(dac.propose(member, await read_json(request)), status_code=201)


@router.get("/proposals/{proposal_id}", response_model=schemas.ProposalView)
async def proposal(proposal_id: Int64, dac: DacDep) -> JSONResponse:
    """One proposal with its tally and ballots."""
    return JSONResponse(dac.proposal(proposal_id))


@router.post(
    "/proposals/{proposal_id}/ballots",
    response_model=schemas.ProposalView,
    responses=SIGNED_ERRORS,
    openapi_extra={**json_body(schemas.Ballot), **SIGNED},
)
async def vote(proposal_id: Int64, request: Request, dac: DacDep, member: MemberDep) -> JSONResponse:
    """Cast (or change, while Active) a signed ballot: yes, no or abstain."""
    return JSONResponse(dac.vote(member, proposal_id, await read_json(request)))


@router.post(
    "/proposals/{proposal_id}/cancel",
    response_model=schemas.ProposalView,
    responses=SIGNED_ERRORS,
    openapi_extra=SIGNED,
)
async def cancel(proposal_id: Int64, dac: DacDep, member: MemberDep) -> JSONResponse:
    """Cancel one's own proposal while Pending or Active."""
    return JSONResponse(dac.cancel(member, proposal_id))


@router.post("/proposals/{proposal_id}/execute", response_model=schemas.ProposalView, responses=WRITE_ERRORS)
async def execute(proposal_id: Int64, dac: DacDep) -> JSONResponse:
    """Execute a Queued proposal whose timelock ended (the scheduler also does it)."""
    return JSONResponse(await dac.execute(proposal_id))


@router.get("/disputes", response_model=schemas.Disputes)
async def disputes(dac: DacDep) -> JSONResponse:
    """Every dispute with its ruling."""
    return JSONResponse({"disputes": [dac.dispute(d["id"]) for d in crud.list_disputes(dac.engine)]})


@router.post(
    "/disputes",
    status_code=201,
    response_model=schemas.DisputeView,
    responses=SIGNED_ERRORS,
    openapi_extra={**json_body(schemas.Dispute), **SIGNED},
)
async def file_dispute(request: Request, dac: DacDep, member: MemberDep) -> JSONResponse:
    """File a dispute: ``{against, epoch, evidence: [event ids], description}``."""
    return JSONResponse(dac.file_dispute(member, await read_json(request)), status_code=201)


@router.get("/disputes/{dispute_id}", response_model=schemas.DisputeView)
async def dispute(dispute_id: Int64, dac: DacDep) -> JSONResponse:
    """One dispute with its ruling."""
    return JSONResponse(dac.dispute(dispute_id))


@router.post(
    "/disputes/{dispute_id}/ruling",
    status_code=201,
    response_model=schemas.Ruled,
    responses=SIGNED_ERRORS,
    openapi_extra=json_body(schemas.Ruling),
)
async def rule(dispute_id: Int64, request: Request, dac: DacDep) -> JSONResponse:
    """The arbitrator's signed ruling (dismiss, penalty, forfeit, remove)."""
    return JSONResponse(dac.rule(dispute_id, await read_json(request)), status_code=201)


@router.get("/epochs", response_model=schemas.Epochs)
async def epochs(dac: DacDep, limit: Int64 = 50) -> JSONResponse:
    """Closed epochs, newest first, and the next epoch to close."""
    rows = crud.list_epochs(dac.engine, limit=min(max(limit, 1), 1000))
    return JSONResponse(
        {
            "epochs": [{**{k: v for k, v in r.items() if k != "header"}} for r in rows],
            "next": dict(zip(("epoch", "start_slot", "end_slot"), dac.next_epoch(), strict=True)),
        }
    )


@router.get("/epochs/{epoch}", response_model=schemas.EpochView)
async def epoch(epoch: Int64, dac: DacDep) -> JSONResponse:
    """An epoch's statement header, status and payouts."""
    statement = dac.statement(epoch)
    return JSONResponse(
        {**{k: v for k, v in statement.items() if k != "rows"}, "payouts": dac.transfers_of_epoch(epoch)}
    )


@router.get("/epochs/{epoch}/statement", response_model=schemas.Statement)
async def statement(epoch: Int64, dac: DacDep) -> JSONResponse:
    """The signed statement: header (with the Merkle root), signature and every row."""
    return JSONResponse(dac.statement(epoch))


@router.get("/epochs/{epoch}/statement/{member}", response_model=schemas.StatementRow)
async def statement_row(epoch: Int64, member: str, dac: DacDep) -> JSONResponse:
    """One member's row with its Merkle inclusion proof."""
    full = dac.statement(epoch)
    try:
        index, proof = compute_row_proof(full["rows"], member)
    except KeyError:
        raise ApiError(404, "not_in_statement", f"{member} has no row in epoch {epoch}") from None
    return JSONResponse(
        {
            "row": full["rows"][index],
            "index": index,
            "size": len(full["rows"]),
            "proof": proof,
            "root": full["header"]["root"],
            "header": full["header"],
            "signature": full["signature"],
            "public_key": full["public_key"],
        }
    )


@router.get("/treasury", response_model=schemas.Treasury)
async def treasury(dac: DacDep) -> JSONResponse:
    """Treasury accounting (fees kept, spends) and the pool account's balance on chain."""
    account = dac.host.follower.state.accounts.get(dac.host.pool)
    spends = [
        {k: t[k] for k in ("ref", "recipient", "amount", "status", "tx_id")}
        for t in crud.transfers(dac.engine, kind="spend")
    ]
    return JSONResponse(
        {
            **crud.treasury(dac.engine),
            "pool_account_balance": account.balance if account else 0,
            "spends": spends,
        }
    )
