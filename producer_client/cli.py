"""``bppool producer ...``: what a small producer runs to join a pool and deliver blocks."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from producer_client.client import Client, PoolError
from service_shell.clitools import fail, new_key_file, run_daemon
from service_shell.keys import KeyFileError, read_key_file

app = typer.Typer(help="Join a pool and deliver candidate blocks for its slots.", no_args_is_help=True)
console = Console()
err = Console(stderr=True)

EmitterOption = typer.Option(
    "http://127.0.0.1:8900", "--emitter-url", envvar="BPPOOL_EMITTER_URL", help="Pool service."
)
KeyOption = typer.Option(..., "--key", "-k", help="Your account's key file (mode 0600).")


def _client(key: Path, url: str) -> Client:
    try:
        keyfile = read_key_file(key)
    except KeyFileError as exc:
        fail(str(exc), 2)
    return Client(url, account=keyfile.account, key=keyfile.key)


def _run(coro: Any) -> Any:
    try:
        return asyncio.run(coro)
    except PoolError as exc:
        fail(f"{exc.code}: {exc.message}")


@app.command()
def keygen(
    account: str = typer.Option(..., help="Your producer account name."),
    out: Path = typer.Option(..., help="Key file to write (mode 0600; never overwritten)."),
) -> None:
    """Create a key file for your account."""
    path, public_key = new_key_file(out, account)
    console.print(f"wrote {path} (mode 0600); public key [bold]{public_key}[/]")
    console.print("create the account on chain with this key, then: bppool producer join --key ...")


@app.command()
def join(
    key: Path = KeyOption,
    emitter_url: str = EmitterOption,
    endpoint: str = typer.Option("", help="Public endpoint info for the pool."),
) -> None:
    """Apply to the pool, accepting its current constitution."""

    async def go() -> dict[str, Any]:
        async with _client(key, emitter_url) as client:
            text, digest = await client.constitution()
            console.print(f"constitution {digest[:16]}… ({len(text.splitlines())} lines) accepted by signing")
            return await client.apply(endpoint, constitution_hash=digest)

    result = _run(go())
    console.print(f"{result['account']}: [bold]{result['status']}[/] (an admin or a vote admits applicants)")


@app.command()
def status(key: Path = KeyOption, emitter_url: str = EmitterOption) -> None:
    """Your membership status and delivery statistics."""

    async def go() -> tuple[dict[str, Any], dict[str, Any]]:
        async with _client(key, emitter_url) as client:
            return await client.me(), await client.info()

    me, info = _run(go())
    stats = me["stats"]
    table = Table(show_header=False, title=f"{me['account']} in pool {info['pool']}")
    table.add_row("status", me["status"])
    table.add_row("deliveries", str(stats.get("deliveries", 0)))
    table.add_row("valid", str(stats.get("valid", 0)))
    table.add_row("wins", str(stats.get("wins", 0)))
    table.add_row("mean offset (valid)", f"{stats.get('mean_valid_offset_ms')} ms")
    table.add_row(
        "rejections", ", ".join(f"{k} {v}" for k, v in sorted(stats.get("rejections", {}).items())) or "-"
    )
    table.add_row("pool strategy", f"{info['strategy']} (fallback {info['fallback']})")
    table.add_row("next pool slots", ", ".join(map(str, info["next_pool_slots"][:6])))
    console.print(table)


@app.command()
def run(
    config: Path | None = typer.Option(None, "--config", "-c", help="Daemon config (TOML)."),
    key: Path | None = typer.Option(None, "--key", "-k", help="Your account's key file."),
    genesis: Path | None = typer.Option(None, help="Genesis of the chain."),
    emitter_url: list[str] | None = typer.Option(
        None,
        "--emitter-url",
        help="Pool service URL; repeat it for each instance of the pool's emitter group.",
    ),
    node_url: str | None = typer.Option(None, "--node-url", help="Your chain node's URL."),
    metrics_port: int | None = typer.Option(None, help="Serve /metrics on this port."),
    delay_ms: int | None = typer.Option(None, help="Simulated extra latency per delivery (devnet)."),
    jitter_ms: int | None = typer.Option(None, help="Simulated random extra latency (devnet)."),
    failure_rate: float | None = typer.Option(None, help="Simulated failure rate (devnet)."),
) -> None:
    """Run the member daemon: follow the slot feed, build, deliver, log one line per slot."""
    from chain.core.errors import ChainError
    from producer_client.config import ProducerSettings
    from producer_client.daemon import ProducerDaemon
    from service_shell.logs import configure_logging
    from service_shell.settings import SettingsError, load_settings

    try:
        settings = load_settings(
            ProducerSettings,
            config,
            key_file=key,
            genesis=genesis,
            emitter_urls=emitter_url or None,
            node_url=node_url,
            metrics_port=metrics_port,
            delay_ms=delay_ms,
            jitter_ms=jitter_ms,
            failure_rate=failure_rate,
        )
        configure_logging(settings.log_level)
        daemon = ProducerDaemon(settings)
    except (SettingsError, ChainError, KeyFileError, OSError) as exc:
        fail(str(exc), 2)
    console.print(
        f"member [bold]{daemon.account}[/] → pool {', '.join(settings.emitters)} (node {settings.node_url})"
    )
    run_daemon(daemon, settings)
