"""Proposal kinds: their payloads, the checks made when proposed, the effects when executed.

Types -> containers (one frozen payload per kind) -> the kind table -> parsing and dispatch.
A payload is parsed and checked from its wire object (the ``payload`` of ``POST
/v1/dac/proposals``) in one place, :func:`parse_payload`; :meth:`to_wire` gives the JSON stored
with the proposal and shown in answers, :meth:`from_wire` reads it back. Checks that need the
pool's state read it through :class:`ProposalContext`, effects act through
:class:`ProposalEffects` (both implemented by the service): this module does no I/O.

Arbitration rulings are a kind too (``ruling``), executed like proposals but never proposed:
the arbitrator's signed ruling creates them (:mod:`pool_dac.arbitration`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Protocol, Self

from chain.core.errors import MalformedInput
from chain.core.types import is_valid_account_name
from pool_protocol.messages import Ruling

from .errors import InvalidProposal
from .params import InvalidParameter, check_parameter

BPS = 10_000
MAX_CONSTITUTION = 64 * 1024  # characters of an amended constitution
MAX_MEMO = 200  # characters of a treasury spend's memo kept
MAX_DESCRIPTION = 2000  # characters of a proposal's description kept


# --- what checks read and effects do (implemented by the service) ------------------------------


class ProposalContext(Protocol):
    """The pool's state a proposal is checked against when it is made."""

    def member_status(self, account: str) -> str | None: ...

    def is_chain_account(self, account: str) -> bool: ...

    def treasury_balance(self) -> int: ...


class ProposalEffects(Protocol):
    """What executing a proposal may do (bound to the proposal being executed)."""

    def set_member_status(self, account: str, action: str) -> str: ...

    def set_parameter(self, name: str, value: int | str) -> None: ...

    def adopt_constitution(self, text: str, digest: str) -> int: ...

    def treasury_balance(self) -> int: ...

    def sign_spend(self, to: str, amount: int, memo: str) -> None: ...

    def last_closed_epoch(self) -> int | None: ...

    def set_penalty(self, epoch: int, member: str, penalty_bps: int) -> None: ...


# --- payloads ----------------------------------------------------------------------------------


class _Payload:
    """Wire conversions shared by the payloads (their fields in declaration order)."""

    def to_wire(self) -> dict[str, Any]:
        """The payload's JSON object, as stored and answered."""
        return asdict(self)  # type: ignore[call-overload, no-any-return]

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> Self:
        """A payload stored by :meth:`to_wire` (already checked when proposed)."""
        return cls(**data)


def _member_account(payload: dict[str, Any]) -> str:
    account = str(payload.get("account"))
    # Verify the payload names one valid account
    if set(payload) != {"account"} or not is_valid_account_name(account):
        raise InvalidProposal("payload: {account} with a valid account name")
    return account


@dataclass(frozen=True)
class _MemberPayload(_Payload):
    """A payload naming one member account."""

    account: str

    @classmethod
    def parse(cls, payload: dict[str, Any]) -> Self:
        """From the proposal's wire payload."""
        return cls(_member_account(payload))


class AdmitMember(_MemberPayload):
    """``admit_member {account}``: admit an applicant."""


class RemoveMember(_MemberPayload):
    """``remove_member {account}``: remove a member."""


@dataclass(frozen=True)
class ParameterChange(_Payload):
    """``set_parameter {name, value}``: the value converted and within its bounds."""

    name: str
    value: int | str

    @classmethod
    def parse(cls, payload: dict[str, Any]) -> ParameterChange:
        """From the proposal's wire payload."""
        # Verify the payload has exactly a name and a value
        if set(payload) != {"name", "value"}:
            raise InvalidProposal("payload: {name, value}")
        # Verify the parameter exists and the value is within its bounds
        try:
            value = check_parameter(str(payload["name"]), payload["value"])
        except InvalidParameter as exc:
            raise InvalidProposal(str(exc)) from None
        return cls(payload["name"], value)


@dataclass(frozen=True)
class ConstitutionAmendment(_Payload):
    """``amend_constitution {text}``: stored with the text's sha256 as ``hash``."""

    text: str
    hash: str

    @classmethod
    def parse(cls, payload: dict[str, Any]) -> ConstitutionAmendment:
        """From the proposal's wire payload."""
        text = payload.get("text")
        # Verify the payload is one non-empty text of bounded length
        if (
            set(payload) != {"text"}
            or not isinstance(text, str)
            or not text.strip()
            or len(text) > MAX_CONSTITUTION
        ):
            raise InvalidProposal(f"payload: {{text}}, non-empty, at most {MAX_CONSTITUTION} characters")
        return cls(text, hashlib.sha256(text.encode()).hexdigest())


@dataclass(frozen=True)
class TreasurySpend(_Payload):
    """``treasury_spend {to, amount, memo}``: a transfer from the treasury."""

    to: str
    amount: int
    memo: str = ""

    @classmethod
    def parse(cls, payload: dict[str, Any]) -> TreasurySpend:
        """From the proposal's wire payload."""
        to, amount, memo = payload.get("to"), payload.get("amount"), payload.get("memo", "")
        # Verify the fields and the recipient's name
        if not set(payload) <= {"to", "amount", "memo"} or not is_valid_account_name(to):
            raise InvalidProposal("payload: {to, amount, memo}")
        # Verify the amount is positive
        if type(amount) is not int or amount <= 0:
            raise InvalidProposal("amount must be a positive integer in the smallest unit")
        return cls(str(to), amount, str(memo)[:MAX_MEMO])


@dataclass(frozen=True)
class RulingExecution:
    """``ruling``: the arbitrator's signed ruling and the member it is against."""

    ruling: Ruling
    against: str

    def to_wire(self) -> dict[str, Any]:
        """The ruling's fields, then ``against``."""
        return {**self.ruling.to_dict(), "against": self.against}

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> RulingExecution:
        """A stored ruling proposal."""
        fields = {k: v for k, v in data.items() if k != "against"}
        try:
            return cls(Ruling.from_dict(fields), str(data["against"]))
        except (MalformedInput, KeyError) as exc:
            raise InvalidProposal(f"stored ruling: {exc}") from None

    parse = from_wire


Payload = (
    AdmitMember | RemoveMember | ParameterChange | ConstitutionAmendment | TreasurySpend | RulingExecution
)


# --- checks when proposed ----------------------------------------------------------------------


def _no_check(payload: Any, context: ProposalContext) -> None:
    """Nothing beyond the payload's own parsing."""


def check_admit(payload: AdmitMember, context: ProposalContext) -> None:
    """Only an applicant is admitted."""
    status = context.member_status(payload.account)
    if status != "applied":
        raise InvalidProposal(f"{payload.account} has not applied (status {status})")


def check_remove(payload: RemoveMember, context: ProposalContext) -> None:
    """Only a member is removed."""
    status = context.member_status(payload.account)
    if status not in ("active", "suspended"):
        raise InvalidProposal(f"{payload.account} is not a member (status {status})")


def check_spend(payload: TreasurySpend, context: ProposalContext) -> None:
    """The recipient exists on chain and the treasury holds the amount."""
    # Verify the recipient exists on the chain
    if not context.is_chain_account(payload.to):
        raise InvalidProposal(f"{payload.to} does not exist on the chain")
    # Verify the treasury holds the amount
    _check_balance(payload.amount, context.treasury_balance())


def _check_balance(amount: int, balance: int) -> None:
    if amount > balance:
        raise InvalidProposal(f"the treasury holds {balance}, less than {amount}")


# --- effects when executed ---------------------------------------------------------------------


def apply_admit(payload: AdmitMember, effects: ProposalEffects) -> str:
    """Admit the applicant."""
    return f"{payload.account} is {effects.set_member_status(payload.account, 'admit')}"


def apply_remove(payload: RemoveMember, effects: ProposalEffects) -> str:
    """Remove the member."""
    return f"{payload.account} is {effects.set_member_status(payload.account, 'remove')}"


def apply_parameter(payload: ParameterChange, effects: ProposalEffects) -> str:
    """Set the parameter (stored; the emitter's strategy and fallback take effect)."""
    effects.set_parameter(payload.name, payload.value)
    return f"{payload.name} = {payload.value}"


def apply_amendment(payload: ConstitutionAmendment, effects: ProposalEffects) -> str:
    """Adopt the new constitution version (members must sign it to stay active)."""
    version = effects.adopt_constitution(payload.text, payload.hash)
    return f"constitution version {version} adopted; members must sign hash {payload.hash}"


def apply_spend(payload: TreasurySpend, effects: ProposalEffects) -> str:
    """Sign the transfer from the treasury (sent with the payouts)."""
    # Verify the treasury still holds the amount
    _check_balance(payload.amount, effects.treasury_balance())
    effects.sign_spend(payload.to, payload.amount, payload.memo)
    return f"{payload.amount} to {payload.to} signed for sending"


def compute_penalty_epoch(epoch: int, last_closed: int | None) -> int:
    """The epoch a penalty applies to: the ruling's, or the next to close when it is closed."""
    return last_closed + 1 if last_closed is not None and epoch <= last_closed else epoch


def apply_ruling(payload: RulingExecution, effects: ProposalEffects) -> str:
    """Dismiss, remove the member, or take a penalty (a forfeit: all) of its share."""
    ruling, against = payload.ruling, payload.against
    if ruling.decision == "dismiss":
        return "dismissed"
    if ruling.decision == "remove":
        effects.set_member_status(against, "remove")
        return f"{against} removed"
    bps = BPS if ruling.decision == "forfeit" else ruling.penalty_bps
    epoch = compute_penalty_epoch(ruling.epoch, effects.last_closed_epoch())
    effects.set_penalty(epoch, against, bps)
    return f"{against} loses {bps / 100:.2f} % of epoch {epoch}'s share"


# --- the kind table ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ProposalKind:
    """A kind's payload type, its check when proposed and its effect when executed."""

    payload: type[Any]
    check: Callable[[Any, ProposalContext], None]
    effect: Callable[[Any, ProposalEffects], str]
    proposable: bool = True


KINDS: dict[str, ProposalKind] = {
    "admit_member": ProposalKind(AdmitMember, check_admit, apply_admit),
    "remove_member": ProposalKind(RemoveMember, check_remove, apply_remove),
    "set_parameter": ProposalKind(ParameterChange, _no_check, apply_parameter),
    "amend_constitution": ProposalKind(ConstitutionAmendment, _no_check, apply_amendment),
    "treasury_spend": ProposalKind(TreasurySpend, check_spend, apply_spend),
    "ruling": ProposalKind(RulingExecution, _no_check, apply_ruling, proposable=False),
}
PROPOSABLE = tuple(kind for kind, spec in KINDS.items() if spec.proposable)


def parse_payload(kind: str, payload: Any, context: ProposalContext) -> Payload:
    """The typed payload of a proposal of ``kind``, parsed and checked against the pool."""
    # Verify the payload is an object and the kind one that can be proposed
    if not isinstance(payload, dict):
        raise InvalidProposal("payload must be an object")
    spec = KINDS.get(kind)
    if spec is None or not spec.proposable:
        raise InvalidProposal(f"kind must be one of {', '.join(PROPOSABLE)}")
    parsed: Payload = spec.payload.parse(payload)
    spec.check(parsed, context)
    return parsed


def load_payload(kind: str, data: dict[str, Any]) -> Payload:
    """The typed payload of a stored proposal."""
    spec = KINDS.get(kind)
    if spec is None:
        raise InvalidProposal(f"unknown kind {kind}")
    loaded: Payload = spec.payload.from_wire(data)
    return loaded


def apply_payload(kind: str, payload: Payload, effects: ProposalEffects) -> str:
    """Execute a proposal's payload; the result recorded with it."""
    return KINDS[kind].effect(payload, effects)
