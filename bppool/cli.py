"""The ``bppool`` command line: mounts each package's commands and runs the devnet."""

from __future__ import annotations

import sys

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
from emitter.cli import app as emitter_app  # noqa: E402

app.add_typer(chain_app, name="chain")
app.add_typer(emitter_app, name="emitter")


@app.command()
def version() -> None:
    """Print the bppool version."""
    console.print(f"bppool {__version__}")


@app.command()
def devnet(
    slots: int = typer.Option(150, help="Slots to run before stopping."),
    delay: float = typer.Option(0.02, help="Seconds to pause between slots (for watching)."),
) -> None:
    """Run a local network with no configuration (for now: the in-process chain demo)."""
    from bppool.demo import run_chain_demo

    run_chain_demo(slots=slots, delay=delay, console=console)


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/]")
        sys.exit(130)
