"""``bppool runner ...``: publish services, stake as a runner, run the daemon, request work."""

from __future__ import annotations

import contextlib
import json
import time
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from chain.client.actions import SendError, send_action
from chain.client.http import NodeClient, NodeError
from chain.core import format_amount, parse_amount
from chain.core.errors import ChainError
from service_shell.clitools import fail, run_daemon
from service_shell.keys import KeyFileError

app = typer.Typer(
    help="Paid executions: publish services, run them as a staked runner, request executions.",
    no_args_is_help=True,
)
console = Console()
err = Console(stderr=True)

UrlOption = typer.Option(
    "http://127.0.0.1:8888", "--url", envvar="BPPOOL_NODE_URL", help="Node API base URL."
)
KeyOption = typer.Option(..., "--key", "-k", help="Key file of the sending account (mode 0600).")
FeeOption = typer.Option("0.0010 BPT", "--fee", help="Transaction fee.")
JsonOption = typer.Option(False, "--json", help="Print raw JSON.")


def _package(name: str) -> Any:
    from chain.runner.registry import load_services

    try:
        return load_services([name])[name]
    except LookupError as exc:
        fail(str(exc), 2)


def _amount(text: str, what: str) -> int:
    try:
        return int(parse_amount(text))
    except ChainError as exc:
        fail(f"{what}: {exc.message}", 2)
        raise AssertionError from None


def _send(url: str, key: Path, action: Any, fee: str) -> dict[str, Any]:
    try:
        result = send_action(url, key, action, fee)
    except SendError as exc:
        fail(str(exc), exc.exit_code)
    console.print(f"pushed [bold]{action.TYPE}[/] as {result['transaction_id']} (pending inclusion)")
    return result


@app.command()
def services(url: str = UrlOption, as_json: bool = JsonOption) -> None:
    """Installed service packages, and whether each is published on the chain."""
    from chain.runner.registry import installed_services

    installed = installed_services()
    try:
        with NodeClient(url) as node:
            published = {s["id"]: s for s in node.services()}
    except NodeError:
        published = {}
        err.print(f"[yellow]cannot reach {url}: showing installed packages only[/]")
    if as_json:
        console.print_json(
            json.dumps({n: {"id": p.service_id, "definition": p.definition} for n, p in installed.items()})
        )
        return
    table = Table("package", "service id", "tasks", "price", "on chain", "runners")
    for name, package in sorted(installed.items()):
        on_chain = published.get(package.service_id)
        table.add_row(
            name,
            package.service_id[:16] + "…",
            ", ".join(f"{t} ({s['verification']})" for t, s in package.definition["tasks"].items()),
            format_amount(package.definition["price"]),
            "published" if on_chain else "—",
            ", ".join(on_chain["runners"]) if on_chain else "",
        )
    console.print(table)


@app.command()
def publish(name: str, key: Path = KeyOption, url: str = UrlOption, fee: str = FeeOption) -> None:
    """Publish an installed service package's definition (you become its developer)."""
    from chain.core.execution_actions import PublishService

    package = _package(name)
    _send(url, key, PublishService(package.definition), fee)
    console.print(f"service [bold]{name}[/] is {package.service_id}")


@app.command()
def register(
    name: str,
    stake: str = typer.Option(..., help='Stake, e.g. "100.0000 BPT".'),
    price: str = typer.Option(..., help="Your price per call (at least the service's)."),
    key: Path = KeyOption,
    url: str = UrlOption,
    fee: str = FeeOption,
) -> None:
    """Stake on a service as a runner."""
    from chain.core.execution_actions import RegisterRunner

    package = _package(name)
    action = RegisterRunner(package.service_id, _amount(stake, "stake"), _amount(price, "price"))  # type: ignore[arg-type]
    _send(url, key, action, fee)


@app.command()
def unregister(name: str, key: Path = KeyOption, url: str = UrlOption, fee: str = FeeOption) -> None:
    """Stop running a service; the stake unbonds (withdraw it later with bppool chain withdraw)."""
    from chain.core.execution_actions import UnregisterRunner

    _send(url, key, UnregisterRunner(_package(name).service_id), fee)


@app.command()
def run(
    config: Path | None = typer.Option(None, "--config", "-c", help="Runner config (TOML)."),
    key: Path | None = typer.Option(None, "--key", "-k", help="The runner account's key file."),
    service: list[str] = typer.Option([], "--service", "-s", help="A service package to serve (repeat)."),
    node_url: str | None = typer.Option(None, "--node-url", help="The chain node."),
    metrics_port: int | None = typer.Option(None, help="Serve /metrics on this port."),
    corrupt_results: bool | None = typer.Option(
        None, "--corrupt-results", help="Fault injection: submit wrong outputs (demos and tests)."
    ),
) -> None:
    """Run the runner daemon: execute assigned work, verify others' results."""
    from chain.runner.config import RunnerSettings
    from chain.runner.daemon import RunnerDaemon
    from service_shell.logs import configure_logging
    from service_shell.settings import SettingsError, load_settings

    try:
        settings = load_settings(
            RunnerSettings,
            config,
            key_file=key,
            services=service or None,
            node_url=node_url,
            metrics_port=metrics_port,
            corrupt_results=corrupt_results,
        )
        configure_logging(settings.log_level)
        daemon = RunnerDaemon(settings)
    except (SettingsError, KeyFileError, LookupError, OSError, ValueError, TypeError) as exc:
        fail(str(exc), 2)
    console.print(f"runner [bold]{daemon.account}[/] on {settings.node_url}: {', '.join(settings.services)}")
    run_daemon(daemon, settings)


def _inputs(pairs: list[str]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        if not sep:
            fail(f"--input {pair!r}: expected NAME=VALUE (VALUE as JSON, or a plain string)", 2)
        try:
            found[name] = json.loads(raw)
        except json.JSONDecodeError:
            found[name] = raw
    return found


@app.command()
def request(
    name: str = typer.Argument(..., help="Service package name (or a service id)."),
    task: str = typer.Argument(...),
    input_: list[str] = typer.Option(
        [], "--input", "-i", help="NAME=VALUE (repeat); VALUE is JSON or a string."
    ),
    max_fee: str = typer.Option(..., help='The most you pay, e.g. "0.5000 BPT".'),
    runner: str = typer.Option("", help="A runner of your choice (default: the chain picks one)."),
    wait: bool = typer.Option(True, help="Wait until the execution settles and print it."),
    timeout: float = typer.Option(120.0, help="How long to wait (seconds)."),
    key: Path = KeyOption,
    url: str = UrlOption,
    fee: str = FeeOption,
) -> None:
    """Request an execution and (by default) wait for its outcome."""
    from chain.core.execution_actions import RequestExecution

    service_id = name if len(name) == 64 else _package(name).service_id
    action = RequestExecution(service_id, task, _inputs(input_), _amount(max_fee, "max fee"), runner)  # type: ignore[arg-type]
    result = _send(url, key, action, fee)
    execution_id = result["transaction_id"]
    console.print(f"execution [bold]{execution_id}[/]")
    if not wait:
        return
    deadline = time.monotonic() + timeout
    with NodeClient(url) as node:
        while time.monotonic() < deadline:
            with contextlib.suppress(NodeError):
                execution = node.execution(execution_id)
                if execution["status"] in ("completed", "failed", "expired"):
                    _show_execution(execution)
                    if execution["status"] != "completed":
                        raise typer.Exit(1)
                    return
            time.sleep(0.5)
    fail(f"execution {execution_id} did not settle within {timeout:.0f} s", 1)


def _show_execution(e: dict[str, Any]) -> None:
    console.print(
        f"[bold]{e['status']}[/] — {e['task']} by {e['runner']} for {format_amount(e['fee'])}: "
        f"{e['outcome'] or ''}"
    )
    if e["outputs"] is not None:
        console.print_json(json.dumps(e["outputs"]))
    if e["error"]:
        console.print(f"error: {e['error']}")


@app.command()
def execution(execution_id: str, url: str = UrlOption, as_json: bool = JsonOption) -> None:
    """Show one execution."""
    with NodeClient(url) as node:
        try:
            data = node.execution(execution_id)
        except NodeError as exc:
            fail(f"{exc.code}: {exc.message}")
            return
    if as_json:
        console.print_json(json.dumps(data))
    else:
        _show_execution(data)
