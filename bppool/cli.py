"""The ``bppool`` command line: mounts each package's commands and runs the devnet."""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.console import Console

from bppool import __version__

app = typer.Typer(
    name="bppool",
    help="bppool: a block-producer pool coordinator with a bundled DPoS chain.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console()

from chain.cli import app as chain_app  # noqa: E402
from chain.runner.cli import app as runner_app  # noqa: E402
from emitter.cli import app as emitter_app  # noqa: E402
from pool_dac.cli import app as dac_app  # noqa: E402
from producer_client.cli import app as producer_app  # noqa: E402

app.add_typer(chain_app, name="chain")
app.add_typer(emitter_app, name="emitter")
app.add_typer(producer_app, name="producer")
app.add_typer(dac_app, name="dac")
app.add_typer(runner_app, name="runner")


spec_app = typer.Typer(
    help="The wire and chain spec's conformance vectors (docs/spec/vectors.md).", no_args_is_help=True
)
app.add_typer(spec_app, name="spec")


@spec_app.command("vectors")
def spec_vectors(
    out: Path = typer.Option(..., "--out", help="Folder to write the vectors into (made if missing)."),
) -> None:
    """Generate every conformance vector from this implementation into OUT
    (<runner>/<handler>/<case>.json), and print how many of each kind."""
    from rich.table import Table

    from bppool import vectors

    if out.exists() and not out.is_dir():
        console.print(f"[red]error:[/] --out: {out} is not a folder")
        raise typer.Exit(1)
    counts = vectors.generate(out)
    table = Table("runner/handler", "vectors", title=f"conformance vectors in {out}")
    for kind, count in sorted(counts.items()):
        table.add_row(kind, str(count))
    table.add_row("[b]total[/]", f"[b]{sum(counts.values())}[/]")
    console.print(table)


@spec_app.command("check")
def spec_check(
    folder: Path = typer.Argument(
        Path("docs/spec/vectors"), help="A folder of vectors (default: the committed ones)."
    ),
) -> None:
    """Run every vector in FOLDER through this implementation; exit 1 naming each that differs."""
    from bppool import vectors

    if not folder.is_dir():
        console.print(f"[red]error:[/] {folder} is not a folder of vectors")
        raise typer.Exit(1)
    ran, problems = vectors.check(folder)
    for line in problems:
        console.print(f"[red]differs:[/] {line}", soft_wrap=True)
    if problems or not ran:
        console.print(
            f"[red]error:[/] {len(problems)} of {ran} vectors differ"
            if ran
            else "[red]error:[/] no vectors found"
        )
        raise typer.Exit(1)
    console.print(f"{ran} vectors: all match")


@app.command()
def version() -> None:
    """Print the bppool version."""
    console.print(f"bppool {__version__}")


@app.command()
def devnet(
    slots: int | None = typer.Option(None, help="Run this many pool slots, print a summary and stop."),
    members: int = typer.Option(5, min=1, max=125, help="Pool members to start."),
    strategy: str = typer.Option("first_delivered", help="first_delivered, best_fees or fair_rotation."),
    database_url: str | None = typer.Option(
        None,
        help=(
            "Pool service database (default: SQLite in the data dir). A PostgreSQL URL names a "
            "server: the devnet makes a database of its own on it (and drops it afterwards)."
        ),
    ),
    emitters: int = typer.Option(
        1, min=1, max=9, help="Instances of the pool service: an emitter group (needs PostgreSQL)."
    ),
    kill_emitter_at: int | None = typer.Option(
        None, help="kill -9 the emitter group's leader after this many pool slots (to watch a failover)."
    ),
    data_dir: Path | None = typer.Option(
        None, help="An empty directory for keys, data and logs (default: temporary)."
    ),
    keep_data: bool = typer.Option(False, help="Keep the temporary data directory afterwards."),
    kill_member_at: int | None = typer.Option(
        None, help="Stop the first member after this many pool slots (to watch the pool carry on)."
    ),
    tx_rate: float = typer.Option(20.0, min=0.1, help="Transfers per second the traffic generator sends."),
    dac: bool = typer.Option(True, help="Run the pool's DAC (governance, statements and payouts)."),
    external_member: list[str] = typer.Option(
        [],
        "--external-member",
        help=(
            "A member the devnet does not run (repeatable): an account, a key file and a founder's "
            "seat for it, and the node builds candidates for it; it joins by applying itself (e.g. "
            "examples/js-member). Where to find it all is printed and written to DATA_DIR/external.json."
        ),
    ),
) -> None:
    """Run a whole local pool with no configuration: a chain node, the pool service and N
    members as real processes on loopback. Ctrl-C stops everything cleanly."""
    from bppool.devnet import Devnet, run_devnet
    from bppool.devnet.setup import is_postgres_url
    from emitter.core import STRATEGIES

    if strategy not in STRATEGIES:
        console.print(f"[red]error:[/] unknown strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}")
        raise typer.Exit(2)
    if emitters > 1 and not is_postgres_url(database_url):
        console.print(
            "[red]error:[/] an emitter group shares one PostgreSQL database: give --database-url "
            "postgresql://USER@HOST:PORT/postgres (a server; the devnet makes its own database)"
        )
        raise typer.Exit(2)
    if kill_emitter_at is not None and emitters < 2:
        console.print("[red]error:[/] --kill-emitter-at needs a group: give --emitters 2 or more")
        raise typer.Exit(2)
    from bppool.devnet.setup import POOL, SOLOS, USERS
    from chain.core.types import is_valid_account_name

    for name in external_member:
        if not is_valid_account_name(name) or name.startswith("member") or name in (POOL, *SOLOS, *USERS):
            taken = ", ".join((POOL, *SOLOS, *USERS))
            console.print(
                f"[red]error:[/] --external-member: {name!r} is not a free account name "
                f"(a-z, 1-5 and '.', up to 12 characters; not member…, {taken})",
                soft_wrap=True,
            )
            raise typer.Exit(2)
    code = run_devnet(
        Devnet(
            members=members,
            slots=slots,
            strategy=strategy,
            database_url=database_url,
            data_dir=data_dir,
            keep_data=keep_data,
            kill_member_at=kill_member_at,
            emitters=emitters,
            kill_emitter_at=kill_emitter_at,
            tx_rate=tx_rate,
            dac=dac,
            external_members=list(dict.fromkeys(external_member)),
            console=console,
        )
    )
    raise typer.Exit(code)


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/]")
        sys.exit(130)
