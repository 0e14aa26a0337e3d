"""Membership administration: applications, member status, the constitution and the
governed parameters (strategy, fallback). Refusals are :mod:`emitter.errors`."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chain.core.errors import MalformedInput
from emitter import crud
from emitter.context import Context
from emitter.core import FALLBACKS, STRATEGIES
from emitter.crud import EventRecord
from emitter.errors import (
    ActionNotAllowed,
    ApplicationRefused,
    InvalidAction,
    Malformed,
    NotAnApplicant,
    TransitionRefused,
)
from pool_protocol.applications import Application

log = logging.getLogger("bppool.emitter")

ACTION_TARGETS = {"admit": "active", "reinstate": "active", "suspend": "suspended", "remove": "removed"}


@dataclass
class Policy:
    """The governed parameters in force: the selection strategy and the fallback."""

    strategy: str
    fallback: str


class Membership:
    """The pool's members (:attr:`members`, by account) and their administration."""

    def __init__(
        self, ctx: Context, *, chain_id: str, request_skew_s: float, constitution_text: str, policy: Policy
    ) -> None:
        self.pool = ctx.pool
        self.chain_id = chain_id
        self.request_skew_s = request_skew_s
        self.policy = policy
        self.follower = ctx.follower
        self.engine = ctx.engine
        self.storage = ctx.storage
        self.clock = ctx.timing.clock
        self.members: dict[str, dict[str, Any]] = {}
        self.application_hooks: list[Callable[[str], None]] = []
        # Called after each change of shared state (the group's other instances reload).
        self.change_listeners: list[Callable[[], None]] = []
        self.admission_by_vote = False
        self.constitution_text = ""
        self.constitution_hash = ""
        self.set_constitution(constitution_text)

    def reload(self) -> None:
        """Read the members from the database."""
        self.members = {m["account"]: m for m in crud.list_members(self.engine)}

    def changed(self) -> None:
        """Shared state changed here: tell the listeners (a failure is logged, not raised:
        the change itself is made, and the others reload periodically anyway)."""
        for listener in self.change_listeners:
            try:
                listener()
            except Exception:
                log.exception("could not announce a change of shared state")

    def apply(self, data: Any) -> dict[str, Any]:
        """Record a signed application (status ``applied`` until admitted)."""
        try:
            application = Application.from_dict(data)
        except MalformedInput as exc:
            raise Malformed(exc.message) from None
        now = self.clock.now_ms()
        self._check_application(application, now)
        existing = self.members.get(application.account)
        status = "applied" if existing is None or existing["status"] == "removed" else existing["status"]
        row = self._save_application(application, status, now)
        if existing is not None and existing["status"] == "removed":
            with self.storage.writing():
                crud.set_member_status(
                    self.engine,
                    account=application.account,
                    status="applied",
                    now_ms=now,
                    event=EventRecord(
                        kind="member", ts_ms=now, member=application.account, verdict="reapplied"
                    ),
                )
            row["status"] = "applied"
        self.reload()
        self.changed()
        for hook in self.application_hooks:
            hook(application.account)
        return {"account": row["account"], "status": self.members[row["account"]]["status"]}

    def _check_application(self, application: Application, now: int) -> None:
        """Raise :class:`ApplicationRefused` naming the first check ``application`` fails."""
        # Verify it is for this pool on this chain
        if application.chain_id != self.chain_id or application.pool != self.pool:
            raise ApplicationRefused(
                f"the application is not for pool {self.pool} on this chain", code="wrong_pool"
            )
        # Verify it is fresh
        if abs(now - application.timestamp) > self.request_skew_s * 1000:
            raise ApplicationRefused(
                "the application timestamp is too far from now", code="stale_application"
            )
        # Verify its signature
        if not application.verify():
            raise ApplicationRefused(
                "the application is not signed by its public_key", code="bad_application_signature"
            )
        # Verify the key is the account's key on chain (candidates are signed with it)
        account = self.follower.state.accounts.get(application.account)
        if account is None:
            raise ApplicationRefused(
                f"account {application.account} does not exist on the chain", code="unknown_account"
            )
        if account.key != application.public_key:
            raise ApplicationRefused(
                f"public_key is not {application.account}'s key on the chain", code="key_mismatch"
            )
        # Verify it accepts the latest constitution
        if application.constitution_hash != self.constitution_hash:
            raise ApplicationRefused(
                f"sign the latest constitution (hash {self.constitution_hash}); GET /v1/pool/constitution",
                code="stale_constitution",
            )

    def _save_application(self, application: Application, status: str, now: int) -> dict[str, Any]:
        """Store ``application`` with ``status`` and its log entry; returns the member row."""
        with self.storage.writing():
            return crud.save_application(
                self.engine,
                row={
                    "account": application.account,
                    "public_key": application.public_key,
                    "endpoint": application.endpoint,
                    "status": status,
                    "constitution_hash": application.constitution_hash,
                    "application_signature": application.signature,
                    "applied_ms": now,
                    "updated_ms": now,
                },
                event=EventRecord(
                    kind="member",
                    ts_ms=now,
                    member=application.account,
                    verdict="applied",
                    data={
                        "endpoint": application.endpoint,
                        "constitution_hash": application.constitution_hash,
                    },
                ),
            )

    def set_status(self, account: str, action: str, *, by: str = "admin") -> dict[str, Any]:
        """Admit, suspend, reinstate or remove a member."""
        if action not in ACTION_TARGETS:
            raise InvalidAction(f"action must be one of {', '.join(ACTION_TARGETS)}", code="unknown_action")
        member = self.members.get(account)
        if member is None:
            raise NotAnApplicant(f"{account} has not applied to pool {self.pool}")
        if action == "admit" and self.admission_by_vote and by not in ("dac", "bootstrap"):
            raise ActionNotAllowed(
                "admission is decided by a DAC vote: propose admit_member", code="admission_by_vote"
            )
        if action in ("admit", "reinstate") and member["constitution_hash"] != self.constitution_hash:
            raise TransitionRefused(
                f"{account} must sign the latest constitution before admission", code="stale_constitution"
            )
        if action == "admit" and member["status"] not in ("applied", "suspended"):
            raise TransitionRefused(
                f"{account} is {member['status']}; only applicants are admitted", code="invalid_transition"
            )
        now = self.clock.now_ms()
        target = ACTION_TARGETS[action]
        with self.storage.writing():
            row = crud.set_member_status(
                self.engine,
                account=account,
                status=target,
                now_ms=now,
                event=EventRecord(
                    kind="member", ts_ms=now, member=account, verdict=target, reason=f"{action} by {by}"
                ),
            )
        self.reload()
        self.changed()
        return {"account": account, "status": row["status"] if row else target}

    def set_constitution(self, text: str) -> str:
        """Adopt a new constitution text (an amendment); returns its hash."""
        changed = text != self.constitution_text
        self.constitution_text = text
        self.constitution_hash = hashlib.sha256(text.encode()).hexdigest()
        if changed:
            self.changed()
        return self.constitution_hash

    def set_member_constitution(self, account: str, constitution_hash: str) -> None:
        """Record that a member signed a constitution version."""
        with self.storage.writing():
            crud.set_member_constitution(
                self.engine, account=account, constitution_hash=constitution_hash, now_ms=self.clock.now_ms()
            )
        self.reload()
        self.changed()

    def set_parameter(self, name: str, value: str) -> None:
        """Change a governed parameter (strategy or fallback) for the next decisions."""
        if name == "strategy" and value in STRATEGIES:
            self.policy.strategy = value
        elif name == "fallback" and value in FALLBACKS:
            self.policy.fallback = value
        else:
            raise InvalidAction(
                f"{name}={value!r} is not a valid emitter parameter", code="invalid_parameter"
            )
        now = self.clock.now_ms()
        with self.storage.writing():
            crud.append_events(
                self.engine, events=[EventRecord(kind="parameter", ts_ms=now, verdict=name, reason=value)]
            )
        self.changed()
