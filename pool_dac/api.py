"""The DAC's HTTP API, mounted in the pool service under ``/v1/dac``.

Writes are requests signed by members (the pool protocol's ``X-BP-*`` headers); ballots,
constitution signatures and rulings are also signed documents kept for audit. The DAC's
errors carry a code; :data:`STATUS` gives each its HTTP status, here only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request
from pydantic import BaseModel
from starlette.responses import Response

from pool_dac import crud, schemas
from pool_dac.core.errors import DacError
from pool_dac.core.params import describe_parameters
from pool_dac.core.statement import compute_row_proof
from pool_dac.service import Dac
from service_shell.apidocs import READ_ERRORS, SIGNED, SIGNED_ERRORS, WRITE_ERRORS, json_body
from service_shell.web import ApiError, Int64, JSONResponse, error_response, read_json

router = APIRouter(prefix="/v1/dac", tags=["dac"], responses=READ_ERRORS)

# The HTTP status of each DAC error code (any other: 400).
STATUS = {
    "not_ready": 503,
    "not_a_member": 403,
    "not_eligible": 403,
    "not_arbitrator": 403,
    "unknown_proposal": 404,
    "unknown_dispute": 404,
    "unknown_epoch": 404,
    "replayed_message": 409,
    "voting_closed": 409,
    "not_cancelable": 409,
    "not_executable": 409,
    "already_executed": 409,
}


def install_error_handler(app: FastAPI) -> None:
    """Answer the DAC's errors in the project's error shape, with their status."""

    @app.exception_handler(DacError)
    async def _dac_error(request: Request, exc: DacError) -> Response:
        return error_response(STATUS.get(exc.code, 400), exc.code, exc.message)


def get_dac(request: Request) -> Dac:
    dac: Dac = request.app.state.dac
    return dac


DacDep = Annotated[Dac, Depends(get_dac)]


async def signed_member(request: Request) -> str:
    """The active member behind a signed request."""
    dac = get_dac(request)
    row = dac.host.service.authenticate_request(
        request.headers, method=request.method, path=request.scope["path"], body=await request.body()
    )
    return str(row["account"])


MemberDep = Annotated[str, Depends(signed_member)]


def signed_write(
    path: str, answer: type[BaseModel], body: type[BaseModel] | None = None, status_code: int | None = None
) -> Callable[[Any], Any]:
    """A member-signed ``POST`` route answering ``answer`` (with a JSON ``body`` when given)."""
    return router.post(
        path,
        status_code=status_code,
        response_model=answer,
        responses=SIGNED_ERRORS,
        openapi_extra={**json_body(body), **SIGNED} if body else SIGNED,
    )


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


@signed_write("/constitution/sign", schemas.Signed, schemas.ConstitutionSignature)
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


@signed_write("/proposals", schemas.ProposalView, schemas.Proposal, status_code=201)
async def propose(request: Request, dac: DacDep, member: MemberDep) -> JSONResponse:
    """Propose: ``{kind, payload, description}`` (admit_member, remove_member, set_parameter,
    amend_constitution, treasury_spend)."""
    return JSONResponse(dac.propose(member, await read_json(request)), status_code=201)


@router.get("/proposals/{proposal_id}", response_model=schemas.ProposalView)
async def proposal(proposal_id: Int64, dac: DacDep) -> JSONResponse:
    """One proposal with its tally and ballots."""
    return JSONResponse(dac.proposal(proposal_id))


@signed_write("/proposals/{proposal_id}/ballots", schemas.ProposalView, schemas.Ballot)
async def vote(proposal_id: Int64, request: Request, dac: DacDep, member: MemberDep) -> JSONResponse:
    """Cast (or change, while Active) a signed ballot: yes, no or abstain."""
    return JSONResponse(dac.vote(member, proposal_id, await read_json(request)))


@signed_write("/proposals/{proposal_id}/cancel", schemas.ProposalView)
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


@signed_write("/disputes", schemas.DisputeView, schemas.Dispute, status_code=201)
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
