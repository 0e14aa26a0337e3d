"""``bppool emitter ...``: run the pool service and administer its membership."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import typer
from rich.console import Console
from rich.table import Table

from service_shell.clitools import PoolSigner, fail, get_json, run_app
from service_shell.keys import KeyFileError

app = typer.Typer(
    help="The pool's block emitter: serve it, admit members, read its log.", no_args_is_help=True
)
console = Console()

UrlOption = typer.Option(
    "http://127.0.0.1:8900", "--url", envvar="BPPOOL_EMITTER_URL", help="Pool service URL."
)
JsonOption = typer.Option(False, "--json", help="Print raw JSON (for scripts).")


@app.command()
def serve(
    config: Path | None = typer.Option(None, "--config", "-c", help="Emitter config (TOML)."),
    port: int | None = typer.Option(None, help="Override the port."),
    host: str | None = typer.Option(None, help="Override the listen address."),
) -> None:
    """Run the pool service (emitter API, slot feed, intake, event log)."""
    from chain.core.errors import ChainError
    from emitter.config import EmitterSettings
    from emitter.main import create_app
    from emitter.service import Emitter
    from service_shell.db import DatabaseInUse
    from service_shell.logs import configure_logging
    from service_shell.metrics import MultipleWorkersError
    from service_shell.settings import SettingsError, load_settings

    try:
        settings = load_settings(EmitterSettings, config, port=port, host=host)
        configure_logging(settings.log_level)
        emitter = Emitter(settings)
        emitter.instance_lock.acquire()
        app_ = create_app(emitter)
    except (
        SettingsError,
        ChainError,
        KeyFileError,
        ValueError,
        OSError,
        MultipleWorkersError,
        DatabaseInUse,
    ) as exc:
        fail(str(exc), 2)
    console.print(
        f"pool [bold]{emitter.pool}[/] emitter on http://{settings.host}:{settings.port} "
        f"(strategy {emitter.strategy_name}, fallback {emitter.fallback}, node {settings.node_urls[0]})"
    )
    run_app(app_, settings, emitter)


KeyOption = typer.Option(..., "--key", "-k", help="The pool producer's key file.")

ADMIN_ACTIONS = (
    ("admit", "Admit an applicant (until the DAC decides admissions by vote)."),
    ("suspend", "Suspend a member (its deliveries are refused until reinstated)."),
    ("reinstate", "Reinstate a suspended member."),
    ("remove", "Remove a member."),
)


def _admin_command(action: str, doc: str) -> None:
    """One command per membership action of the pool's admin: the same arguments, its own path."""

    def command(account: str, key: Path = KeyOption, url: str = UrlOption) -> None:
        result = PoolSigner(url, key).post(f"/v1/pool/admin/members/{account}/{action}")
        console.print(f"{result['account']} is now [bold]{result['status']}[/]")

    command.__doc__ = doc
    app.command(action)(command)


for _action, _doc in ADMIN_ACTIONS:
    _admin_command(_action, _doc)


def _get(url: str, path: str, *, as_json: bool, **params: Any) -> Any:
    """The pool service's answer to ``GET path``; with ``--json`` it is printed as it came and
    ``None`` returned."""
    data = get_json(url, path, **params)
    if as_json:
        console.print_json(orjson.dumps(data).decode())
        return None
    return data


@app.command()
def info(url: str = UrlOption, as_json: bool = JsonOption) -> None:
    """Show the pool: strategy, fallback, timing, next pool slots."""

    data = _get(url, "/v1/pool/info", as_json=as_json)
    if data is None:
        return
    table = Table(show_header=False)
    for key in (
        "pool",
        "chain_id",
        "strategy",
        "fallback",
        "cutoff_ms",
        "in_schedule",
        "head_block_num",
        "open_slot",
        "next_pool_slots",
        "members",
        "constitution_hash",
        "ready",
    ):
        table.add_row(
            key, json.dumps(data.get(key)) if isinstance(data.get(key), list) else str(data.get(key))
        )
    console.print(table)


@app.command()
def members(url: str = UrlOption, as_json: bool = JsonOption) -> None:
    """List members with their statistics."""

    data = _get(url, "/v1/pool/members", as_json=as_json)
    if data is None:
        return
    table = Table("member", "status", "deliveries", "valid", "wins", "mean offset (valid)", "rejections")
    for m in data["members"]:
        s = m["stats"]
        offset = s.get("mean_valid_offset_ms")
        table.add_row(
            m["account"],
            m["status"],
            str(s["deliveries"]),
            str(s["valid"]),
            str(s["wins"]),
            f"{offset} ms" if offset is not None else "",
            ", ".join(f"{k} {v}" for k, v in sorted(s.get("rejections", {}).items())),
        )
    console.print(table)


@app.command()
def slots(
    url: str = UrlOption,
    limit: int = typer.Option(20, help="How many recent slots."),
    as_json: bool = JsonOption,
) -> None:
    """Recent pool slot outcomes."""

    data = _get(url, "/v1/pool/slots", limit=limit, as_json=as_json)
    if data is None:
        return
    table = Table("slot", "outcome", "winner", "arrivals", "valid", "reason")
    for s in data["slots"]:
        extra = s.get("data", {})
        table.add_row(
            str(s["slot"]),
            s["verdict"],
            s.get("member", ""),
            str(extra.get("arrivals", "")),
            str(extra.get("valid", "")),
            s.get("reason", ""),
        )
    console.print(table)


@app.command()
def slot(number: int, url: str = UrlOption, as_json: bool = JsonOption) -> None:
    """One slot: outcome and every arrival with its offset and verdict."""

    data = _get(url, f"/v1/pool/slots/{number}", as_json=as_json)
    if data is None:
        return
    console.print(
        f"slot {data['slot']}: [bold]{data['outcome']}[/] winner {data['winner']} ({data['source']})"
    )
    table = Table("member", "offset", "verdict", "block", "reason")
    for a in data["arrivals"]:
        table.add_row(
            a.get("member", ""),
            f"{a.get('offset_ms', '')} ms",
            a.get("verdict", ""),
            (a.get("block_id") or "")[:16],
            a.get("reason", ""),
        )
    console.print(table)


@app.command()
def events(
    url: str = UrlOption,
    after_id: int = 0,
    limit: int = 50,
    kind: str | None = None,
    as_json: bool = JsonOption,
) -> None:
    """Page through the append-only event log."""

    data = _get(
        url,
        "/v1/pool/events",
        after_id=after_id,
        limit=limit,
        **({"kind": kind} if kind else {}),
        as_json=as_json,
    )
    if data is None:
        return
    table = Table("id", "kind", "slot", "member", "verdict", "offset", "reason")
    for e in data["events"]:
        table.add_row(
            str(e["id"]),
            e["kind"],
            str(e.get("slot", "")),
            e.get("member", ""),
            e.get("verdict", ""),
            str(e.get("offset_ms", "")),
            e.get("reason", ""),
        )
    console.print(table)
    console.print(f"next page: --after-id {data['next_after_id']}")


@app.command()
def group(url: str = UrlOption, as_json: bool = JsonOption) -> None:
    """Show the emitter group: the lease holder, every instance, the signing watermark."""

    data = _get(url, "/v1/pool/group", as_json=as_json)
    if data is None:
        return
    leader = data.get("leader")
    if not data["shared"]:
        console.print(f"single instance [bold]{data['instance']}[/] (SQLite)")
    elif leader:
        console.print(
            f"leader [bold]{leader['instance']}[/] at {leader['url']} (epoch {leader['epoch']}, "
            f"lease {leader['expires_in_ms']} ms left); {data['size']} instance(s) alive"
        )
    else:
        console.print(f"[red]no leader[/] (the lease is free or lapsed); {data['size']} instance(s) alive")
    table = Table("instance", "url", "alive", "last seen", "leader")
    for i in data["instances"]:
        table.add_row(
            i["instance"],
            i["url"],
            "yes" if i["alive"] else "[red]no[/]",
            f"{i['seen_ms_ago']} ms ago",
            "yes" if i["leader"] else "",
        )
    console.print(table)
    signing = data["signing"]
    console.print(
        f"signing watermark: slot {signing['watermark']}; ceiling: "
        f"{signing['ceiling'] if signing['ceiling'] is not None else 'none'}; newest pool block on the "
        f"chain at start: slot {signing['chain_slot']}"
    )


@app.command()
def ceiling(
    slot: int | None = typer.Argument(None, help="Freeze signing above this slot.", min=0),
    lift: bool = typer.Option(False, "--lift", help="Lift the ceiling: sign any slot again."),
    config: Path | None = typer.Option(None, "--config", "-c", help="Emitter config (TOML)."),
    database_url: str | None = typer.Option(
        None, "--database-url", envvar="BPPOOL_DATABASE_URL", help="The pool's database (else the config's)."
    ),
) -> None:
    """Freeze the pool key's signing above a slot, for a migration (in the database: every
    instance of the group obeys at once, running or not); without arguments, show it."""
    from emitter import groupstore
    from emitter.config import EmitterSettings
    from emitter.service import MIGRATIONS, VERSION_TABLE
    from service_shell.db import make_engine, run_migrations
    from service_shell.keys import read_key_file
    from service_shell.settings import SettingsError, load_settings

    if slot is not None and lift:
        fail("give a slot or --lift, not both", 2)
    try:
        settings = load_settings(EmitterSettings, config, database_url=database_url)
        producer = read_key_file(settings.pool_key_file).account
    except (SettingsError, KeyFileError, OSError) as exc:
        fail(str(exc), 2)
    engine = make_engine(settings.db_url)
    try:
        run_migrations(engine, MIGRATIONS, VERSION_TABLE)
        if slot is not None or lift:
            signer = groupstore.set_ceiling(engine, producer=producer, ceiling=None if lift else slot)
        else:
            signer = groupstore.get_signer(engine, producer=producer) or {"watermark": 0, "ceiling": None}
    except Exception as exc:  # the database refuses or is out of reach
        fail(f"the pool's database at {settings.db_url}: {str(exc).splitlines()[0]}")
    finally:
        engine.dispose()
    limit = signer["ceiling"]
    console.print(
        f"pool [bold]{producer}[/]: "
        + (f"nothing is signed above slot {limit}" if limit is not None else "no ceiling")
        + f" (watermark: slot {signer['watermark']})"
    )
