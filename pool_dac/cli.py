"""``bppool dac ...``: read the pool's governance, propose, vote, rule, audit statements."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
import typer
from rich.console import Console
from rich.table import Table

from chain.core import format_amount
from pool_protocol.messages import Ballot, ConstitutionSignature, Ruling
from service_shell.clitools import PoolSigner, fail, get_json

app = typer.Typer(
    help="The pool's DAC: constitution, proposals and votes, disputes, epochs, audits.", no_args_is_help=True
)
console = Console()

UrlOption = typer.Option(
    "http://127.0.0.1:8900", "--url", envvar="BPPOOL_EMITTER_URL", help="Pool service URL."
)
KeyOption = typer.Option(..., "--key", "-k", help="Your key file (mode 0600).")
JsonOption = typer.Option(False, "--json", help="Print raw JSON.")


def _show(data: Any, as_json: bool) -> bool:
    if as_json:
        console.print_json(orjson.dumps(data).decode())
    return as_json


def _post_signed(signer: PoolSigner, path: str, document: Ballot | ConstitutionSignature | Ruling) -> Any:
    """Sign ``document`` with the member's key and post it (in a signed request)."""
    return signer.post(path, document.signed(signer.keyfile.key).to_dict())


@app.command()
def constitution(
    url: str = UrlOption, text: bool = typer.Option(False, help="Print the text."), as_json: bool = JsonOption
) -> None:
    """The latest constitution: version, hash and signers."""
    data = get_json(url, "/v1/dac/constitution")
    if _show(data, as_json):
        return
    console.print(f"constitution v{data['version']} hash {data['hash']}")
    console.print(f"signed by: {', '.join(data['signers']) or 'nobody yet'}")
    if text:
        console.print(data["text"])


@app.command("sign-constitution")
def sign_constitution(key: Path = KeyOption, url: str = UrlOption) -> None:
    """Sign the latest constitution (members are active only once they did)."""
    signer = PoolSigner(url, key)
    current = get_json(url, "/v1/dac/constitution")
    message = ConstitutionSignature(
        signer.chain_id, signer.pool, signer.account, current["version"], current["hash"], signer.now()
    )
    result = _post_signed(signer, "/v1/dac/constitution/sign", message)
    console.print(f"{result['member']} signed version {result['version']}; active: {result['active']}")


@app.command()
def params(url: str = UrlOption, as_json: bool = JsonOption) -> None:
    """The governed parameters."""
    data = get_json(url, "/v1/dac/parameters")
    if _show(data, as_json):
        return
    table = Table("parameter", "value", "meaning")
    for name, value in data["values"].items():
        table.add_row(name, str(value), data["descriptions"].get(name, ""))
    console.print(table)


def _member_payload(options: dict[str, Any]) -> dict[str, Any]:
    return {"account": options["account"]}


def _parameter_payload(options: dict[str, Any]) -> dict[str, Any]:
    value = options["value"]
    try:
        parsed: Any = json.loads(value or "")
    except json.JSONDecodeError:
        parsed = value
    return {"name": options["name"], "value": parsed}


def _amendment_payload(options: dict[str, Any]) -> dict[str, Any]:
    text_file: Path | None = options["text_file"]
    if text_file is None or not text_file.is_file():
        fail("amend_constitution needs --text-file with the new text")
    return {"text": text_file.read_text()}


def _spend_payload(options: dict[str, Any]) -> dict[str, Any]:
    from chain.core import parse_amount
    from chain.core.errors import ChainError

    try:
        return {
            "to": options["to"],
            "amount": int(parse_amount(options["amount"] or "")),
            "memo": options["memo"],
        }
    except ChainError as exc:
        fail(exc.message)


# A proposal's payload from the command's options, by kind (pool_dac.core.proposals.PROPOSABLE).
PAYLOADS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "admit_member": _member_payload,
    "remove_member": _member_payload,
    "set_parameter": _parameter_payload,
    "amend_constitution": _amendment_payload,
    "treasury_spend": _spend_payload,
}


@app.command()
def propose(
    kind: str = typer.Argument(..., help=", ".join(PAYLOADS)),
    key: Path = KeyOption,
    url: str = UrlOption,
    account: str | None = typer.Option(None, help="admit_member / remove_member: the account."),
    name: str | None = typer.Option(None, help="set_parameter: the parameter."),
    value: str | None = typer.Option(None, help="set_parameter: the value (JSON, or a plain string)."),
    text_file: Path | None = typer.Option(None, help="amend_constitution: the new text."),
    to: str | None = typer.Option(None, help="treasury_spend: recipient."),
    amount: str | None = typer.Option(None, help='treasury_spend: amount, e.g. "10.0000 BPT".'),
    memo: str = typer.Option("", help="treasury_spend: memo."),
    description: str = typer.Option("", help="Why."),
) -> None:
    """Make a proposal (voting starts after the voting delay)."""
    build = PAYLOADS.get(kind)
    if build is None:
        fail(f"unknown kind {kind!r}")
    options = {"account": account, "name": name, "value": value, "text_file": text_file}
    payload = build({**options, "to": to, "amount": amount, "memo": memo})
    result = PoolSigner(url, key).post(
        "/v1/dac/proposals", {"kind": kind, "payload": payload, "description": description}
    )
    console.print(
        f"proposal [bold]{result['id']}[/] ({kind}) is {result['state']}; voting ends at "
        f"{result['vote_end_ms']} ms"
    )


@app.command()
def vote(
    proposal_id: int,
    choice: str = typer.Argument(..., help="yes, no or abstain"),
    key: Path = KeyOption,
    url: str = UrlOption,
) -> None:
    """Cast or change your signed ballot while the proposal is Active."""
    if choice not in ("yes", "no", "abstain"):
        fail("choice must be yes, no or abstain")
    signer = PoolSigner(url, key)
    ballot = Ballot(signer.chain_id, signer.pool, proposal_id, signer.account, choice, signer.now())
    result = _post_signed(signer, f"/v1/dac/proposals/{proposal_id}/ballots", ballot)
    tally = result["tally"]
    console.print(
        f"voted {choice}; tally yes {tally['yes']} no {tally['no']} abstain {tally['abstain']} "
        f"of {tally['eligible']}"
    )


@app.command()
def cancel(proposal_id: int, key: Path = KeyOption, url: str = UrlOption) -> None:
    """Cancel your proposal while Pending or Active."""
    state = PoolSigner(url, key).post(f"/v1/dac/proposals/{proposal_id}/cancel")["state"]
    console.print(f"proposal {proposal_id} is {state}")


@app.command()
def proposals(url: str = UrlOption, state: str | None = None, as_json: bool = JsonOption) -> None:
    """Proposals, newest first."""
    data = get_json(url, "/v1/dac/proposals", **({"state": state} if state else {}))
    if _show(data, as_json):
        return
    table = Table("id", "kind", "state", "proposer", "yes", "no", "abstain", "result")
    for p in data["proposals"]:
        t = p["tally"]
        table.add_row(
            str(p["id"]),
            p["kind"],
            p["state"],
            p["proposer"],
            str(t["yes"]),
            str(t["no"]),
            str(t["abstain"]),
            p.get("result") or "",
        )
    console.print(table)


@app.command()
def proposal(proposal_id: int, url: str = UrlOption, as_json: bool = JsonOption) -> None:
    """One proposal with its ballots."""
    data = get_json(url, f"/v1/dac/proposals/{proposal_id}")
    if _show(data, as_json):
        return
    console.print(
        f"proposal {data['id']}: {data['kind']} {json.dumps(data['payload'])} — [bold]{data['state']}[/]"
    )
    for b in data["ballots"]:
        console.print(f"  {b['voter']}: {b['choice']} (weight {b['weight']})")


@app.command()
def dispute(
    against: str = typer.Option(...),
    epoch: int = typer.Option(...),
    evidence: str = typer.Option(..., help="Comma-separated event ids from the pool's event log."),
    description: str = typer.Option(""),
    key: Path = KeyOption,
    url: str = UrlOption,
) -> None:
    """File a dispute against a member, citing event ids."""
    try:
        ids = [int(x) for x in evidence.split(",") if x.strip()]
    except ValueError:
        fail("--evidence: comma-separated integers")
        return
    result = PoolSigner(url, key).post(
        "/v1/dac/disputes", {"against": against, "epoch": epoch, "evidence": ids, "description": description}
    )
    console.print(f"dispute {result['id']} filed against {against}")


@app.command()
def rule(
    dispute_id: int,
    decision: str = typer.Option(..., help="dismiss, penalty, forfeit or remove"),
    epoch: int = typer.Option(0),
    penalty_bps: int = typer.Option(0),
    reason: str = typer.Option(""),
    key: Path = KeyOption,
    url: str = UrlOption,
) -> None:
    """Rule on a dispute (you must be the elected arbitrator)."""
    signer = PoolSigner(url, key)
    ruling = Ruling(
        signer.chain_id,
        signer.pool,
        dispute_id,
        signer.account,
        decision,
        penalty_bps,
        epoch,
        reason,
        signer.now(),
    )
    result = _post_signed(signer, f"/v1/dac/disputes/{dispute_id}/ruling", ruling)
    console.print(f"ruling recorded; it executes as proposal {result['proposal']['id']} after the timelock")


@app.command()
def epochs(url: str = UrlOption, as_json: bool = JsonOption) -> None:
    """Closed epochs: earnings, treasury and payout status."""
    data = get_json(url, "/v1/dac/epochs")
    if _show(data, as_json):
        return
    table = Table("epoch", "slots", "earnings", "treasury", "status", "root")
    for e in data["epochs"]:
        table.add_row(
            str(e["epoch"]),
            f"{e['start_slot']}–{e['end_slot'] - 1}",
            format_amount(e["earnings"]),
            format_amount(e["treasury"]),
            e["status"],
            e["root"][:16],
        )
    console.print(table)
    nxt = data["next"]
    console.print(f"next: epoch {nxt['epoch']} (slots {nxt['start_slot']}–{nxt['end_slot'] - 1})")


@app.command()
def statement(
    epoch: int, url: str = UrlOption, member: str | None = None, as_json: bool = JsonOption
) -> None:
    """An epoch's signed statement, or one member's row checked against the root."""
    from pool_dac.core.statement import verify_row, verify_statement

    if member:
        data = get_json(url, f"/v1/dac/epochs/{epoch}/statement/{member}")
        if _show(data, as_json):
            return
        ok = verify_row(data["row"], data["index"], data["size"], data["proof"], data["root"])
        signed = verify_statement(data["public_key"], data["header"], data["signature"])
        console.print(
            f"{member}: {format_amount(data['row']['amount'])} — proof {'verifies' if ok else 'FAILS'}, "
            f"statement signature {'verifies' if signed else 'FAILS'}"
        )
        return
    data = get_json(url, f"/v1/dac/epochs/{epoch}/statement")
    if _show(data, as_json):
        return
    header = data["header"]
    console.print(
        f"epoch {epoch}: earnings {format_amount(header['earnings'])}, treasury "
        f"{format_amount(header['treasury'])}, policy {header['policy']}, "
        f"{header['pool_slots']} pool slots ({header.get('counted_slots', header['pool_slots'])} counted "
        f"for participation), root {header['root'][:16]}…"
    )
    table = Table("member", "deliveries", "valid", "wins", "participation", "eligible", "penalty", "amount")
    for r in data["rows"]:
        table.add_row(
            r["member"],
            str(r["deliveries"]),
            str(r["valid"]),
            str(r["wins"]),
            f"{r['participation_bps'] / 100:.1f} %",
            "yes" if r["eligible"] else "no",
            f"{r['penalty_bps'] / 100:.1f} %",
            format_amount(r["amount"]),
        )
    console.print(table)


@app.command()
def treasury(url: str = UrlOption, as_json: bool = JsonOption) -> None:
    """Treasury accounting and the pool account's balance."""
    data = get_json(url, "/v1/dac/treasury")
    if _show(data, as_json):
        return
    console.print(
        f"treasury {format_amount(data['balance'])} (collected {format_amount(data['collected'])}, "
        f"spent {format_amount(data['spent'])}); "
        f"pool account holds {format_amount(data['pool_account_balance'])}"
    )


@app.command()
def audit(
    epoch: int = typer.Option(..., help="The epoch to audit."),
    url: str = UrlOption,
    node_url: str = typer.Option("http://127.0.0.1:8888", envvar="BPPOOL_NODE_URL", help="Any chain node."),
) -> None:
    """Recompute an epoch's statement from the public event log and the chain; exit 1 if it differs."""
    from pool_dac.audit import audit_epoch

    try:
        result = asyncio.run(audit_epoch(url, node_url, epoch))
    except httpx.HTTPError as exc:
        fail(f"cannot reach the pool service or the node: {exc}")
        return
    if result.matches:
        r = result.recomputed
        console.print(
            f"[green]epoch {epoch}: the statement matches[/] — earnings {format_amount(r['earnings'])}, "
            f"treasury {format_amount(r['treasury'])}, {r['pool_slots']} pool slots "
            f"({r['counted_slots']} counted for participation), root {r['root'][:16]}…"
        )
        return
    console.print(f"[red]epoch {epoch}: the statement does not match[/]")
    for problem in result.problems:
        console.print(f"  - {problem}")
    raise typer.Exit(1)
