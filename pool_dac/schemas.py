"""Schemas of the DAC's API, for its OpenAPI (routes answer with orjson and parse signed
documents by hand; see :mod:`service_shell.apidocs`)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from chain.core.types import ACCOUNT_NAME_PATTERN, HASH_PATTERN, SIGNATURE_PATTERN
from pool_dac.arbitration import MAX_DISPUTE_DESCRIPTION, MAX_EVIDENCE
from pool_dac.core.proposals import MAX_DESCRIPTION, PROPOSABLE
from pool_protocol.messages import CHOICES, DECISIONS
from service_shell.apidocs import Open
from service_shell.web import Int64

Choice = Literal[CHOICES]  # type: ignore[valid-type]
Decision = Literal[DECISIONS]  # type: ignore[valid-type]
Kind = Literal[PROPOSABLE]  # type: ignore[valid-type]
# The fields of the signed documents, bounded as pool_protocol.messages checks them
ChainId = Annotated[str, Field(pattern=HASH_PATTERN)]
Account = Annotated[str, Field(pattern=ACCOUNT_NAME_PATTERN)]
Signature = Annotated[str, Field(pattern=SIGNATURE_PATTERN)]
MAX_DOCUMENT_INT = 2**53  # ids and epochs in signed documents (exact in every JSON reader)
DocumentId = Annotated[int, Field(ge=1, le=MAX_DOCUMENT_INT)]


# --- requests ----------------------------------------------------------------------------------


class ConstitutionSignature(BaseModel):
    """A member's signature of the latest constitution (``bppool/constitution/v1``)."""

    chain_id: ChainId
    pool: Account
    member: Account
    version: int = Field(ge=1, le=2**31)
    hash: str = Field(pattern=HASH_PATTERN)
    timestamp: Int64
    signature: Signature


class Proposal(BaseModel):
    """A proposal: its kind, the kind's payload, and what it is for."""

    kind: Kind
    payload: dict[str, Any] = Field(
        description="admit_member, remove_member: {account}; set_parameter: {name, value}; "
        "amend_constitution: {text}; treasury_spend: {to, amount, memo}"
    )
    description: str = Field(default="", max_length=MAX_DESCRIPTION)


class Ballot(BaseModel):
    """A member's signed ballot."""

    chain_id: ChainId
    pool: Account
    proposal_id: DocumentId
    voter: Account
    choice: Choice
    timestamp: Int64
    signature: Signature


class Dispute(BaseModel):
    """A dispute against a member, citing events of the pool's log."""

    against: Account
    epoch: Int64
    evidence: list[Int64] = Field(min_length=1, max_length=MAX_EVIDENCE)
    description: str = Field(default="", max_length=MAX_DISPUTE_DESCRIPTION)


class Ruling(BaseModel):
    """The arbitrator's signed ruling on a dispute."""

    chain_id: ChainId
    pool: Account
    dispute_id: DocumentId
    arbitrator: Account
    decision: Decision
    penalty_bps: int = Field(ge=0, le=10_000)
    epoch: int = Field(ge=0, le=MAX_DOCUMENT_INT)
    reason: str = Field(max_length=2000)
    timestamp: Int64
    signature: Signature


# --- answers -----------------------------------------------------------------------------------


class Constitution(Open):
    """The latest constitution and its signers."""

    version: int
    hash: str
    text: str
    signers: list[str]


class ConstitutionVersions(Open):
    """Every adopted version."""

    versions: list[dict[str, Any]]


class Signed(Open):
    """A member's signature recorded."""

    member: str
    version: int
    active: bool


class Parameters(Open):
    """The governed parameters and what they mean."""

    values: dict[str, Any]
    descriptions: dict[str, Any]


class ProposalView(Open):
    """A proposal with its state now, its tally and its ballots."""

    id: int
    kind: str
    payload: Any
    proposer: str
    state: str
    tally: dict[str, int]
    ballots: list[dict[str, Any]]


class Proposals(Open):
    """Proposals, newest first."""

    proposals: list[ProposalView]


class DisputeView(Open):
    """A dispute with its ruling."""

    id: int
    filer: str
    against: str
    epoch: int
    evidence: list[int]
    status: str
    ruling: dict[str, Any] | None


class Disputes(Open):
    """Every dispute."""

    disputes: list[DisputeView]


class Ruled(Open):
    """The ruled dispute and the proposal that executes the ruling."""

    dispute: DisputeView
    proposal: ProposalView


class Epochs(Open):
    """Closed epochs and the next to close."""

    epochs: list[dict[str, Any]]
    next: dict[str, int]


class EpochView(Open):
    """An epoch's statement header, status and payouts."""

    payouts: list[dict[str, Any]]


class Statement(Open):
    """The signed statement: header (with the Merkle root), signature and every row."""

    header: dict[str, Any]
    signature: str
    rows: list[dict[str, Any]]


class StatementRow(Open):
    """One member's row with its Merkle inclusion proof."""

    row: dict[str, Any]
    index: int
    size: int
    proof: list[Any]
    root: str


class Treasury(Open):
    """Treasury accounting and the pool account's balance."""

    pool_account_balance: int
    spends: list[dict[str, Any]]
