"""``bppool chain ...``: set up a local network, run a node, and talk to one."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import typer
from rich.console import Console
from rich.table import Table

from chain.client.actions import SendError
from chain.client.actions import send_action as push_action
from chain.client.http import NodeClient, NodeError
from chain.core import (
    ChainParams,
    Genesis,
    GenesisAccount,
    GenesisProducer,
    format_amount,
    parse_amount,
)
from chain.core.containers import (
    Action,
    CreateAccount,
    RegisterProducer,
    Stake,
    Transfer,
    Unjail,
    Unstake,
    Withdraw,
)
from chain.core.errors import ChainError
from chain.core.types import AccountName, Amount, PublicKey, Timestamp, validate_account_name
from service_shell.clitools import fail, new_key_file, run_app
from service_shell.keys import KeyFileError, generate_private_key, read_key_file, write_key_file

app = typer.Typer(
    help="The bundled DPoS chain: local networks, nodes and transactions.", no_args_is_help=True
)
console = Console()
err = Console(stderr=True)

DEFAULT_URL = "http://127.0.0.1:8888"
UrlOption = typer.Option(DEFAULT_URL, "--url", envvar="BPPOOL_NODE_URL", help="Node API base URL.")
JsonOption = typer.Option(False, "--json", help="Print raw JSON (for scripts).")
KeyOption = typer.Option(..., "--key", "-k", help="Key file of the sending account.", exists=False)
FeeOption = typer.Option("0.0010 BPT", "--fee", help="Transaction fee.")


def _print_json(data: Any) -> None:
    console.print_json(orjson.dumps(data).decode())


def _amount(text: str, what: str = "amount") -> int:
    try:
        return int(parse_amount(text))
    except ChainError as exc:
        fail(exc.message.replace("amount:", f"{what}:", 1))
        raise AssertionError from None


def _csv_names(text: str, what: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    for name in names:
        try:
            validate_account_name(name, what)
        except ChainError as exc:
            fail(exc.message)
    return names


# --- set-up ---------------------------------------------------------------------------------


@app.command()
def init(
    directory: Path = typer.Option(
        Path("data/chain"), "--dir", help="Where to write genesis, keys and node configs."
    ),
    producers: str = typer.Option("alpha,beta,gamma", help="Comma-separated producer accounts."),
    accounts: str = typer.Option("alice,bob,carol", help="Comma-separated funded user accounts."),
    balance: str = typer.Option("1000000.0000 BPT", help="Liquid balance of every genesis account."),
    stake: str = typer.Option("100000.0000 BPT", help="Self-stake of every genesis producer."),
    base_port: int = typer.Option(8888, help="First node's API port; the others follow."),
    start_delay: float = typer.Option(3.0, help="Seconds from now until the genesis time."),
    liveness_window: int = typer.Option(100, help="Own slots in the liveness window."),
    jail_slots: int = typer.Option(1200, help="Slots a downtime jail lasts."),
    unbonding_slots: int = typer.Option(3_628_800, help="Slots before unstaked tokens can be withdrawn."),
    slot_ms: int = typer.Option(500, help="Slot length in milliseconds."),
    execution_timeout_slots: int = typer.Option(120, help="Slots a runner has to submit a result."),
    verification_timeout_slots: int = typer.Option(120, help="Slots verifiers have to give verdicts."),
    force: bool = typer.Option(False, help="Overwrite an existing genesis (never existing keys)."),
) -> None:
    """Create a genesis, key files (mode 0600) and one node config per producer."""
    producer_names = _csv_names(producers, "producers")
    account_names = [n for n in _csv_names(accounts, "accounts") if n not in producer_names]
    if not producer_names:
        fail("at least one producer is needed")
    genesis_path = directory / "genesis.json"
    if genesis_path.exists() and not force:
        fail(f"{genesis_path} exists; pass --force to replace the genesis")
    keys_dir = directory / "keys"
    public = _public_keys(keys_dir, producer_names + account_names)
    genesis_time = (int(time.time() * 1000 + start_delay * 1000) // 1000) * 1000
    try:
        params = ChainParams(
            liveness_window=liveness_window,
            jail_slots=jail_slots,
            unbonding_slots=unbonding_slots,
            slot_ms=slot_ms,
            execution_timeout_slots=execution_timeout_slots,
            verification_timeout_slots=verification_timeout_slots,
        )
        genesis = _genesis(genesis_time, public, producer_names, balance, stake, params)
    except ChainError as exc:
        fail(exc.message)
    directory.mkdir(parents=True, exist_ok=True)
    genesis_path.write_text(json.dumps(genesis.to_dict(), indent=2) + "\n")
    table = Table(title=f"chain {genesis.chain_id[:16]}… (genesis in {start_delay:.0f} s)")
    for column in ("node", "producer", "API", "config"):
        table.add_column(column)
    for row in _write_node_configs(directory, producer_names, base_port):
        table.add_row(*row)
    console.print(table)
    console.print(f"accounts: {', '.join(producer_names + account_names)} (keys in {keys_dir})")
    console.print(
        f"start each node with: [bold]bppool chain node --config {directory / 'nodes'}/<producer>.toml[/]"
    )


def _genesis(
    genesis_time: int,
    public: dict[str, str],
    producers: list[str],
    balance: str,
    stake: str,
    params: ChainParams,
) -> Genesis:
    """Every account of ``public`` funded with ``balance``, every producer staked ``stake``."""
    return Genesis(
        genesis_time=Timestamp(genesis_time),
        accounts=tuple(
            GenesisAccount(AccountName(n), PublicKey(key), Amount(_amount(balance, "balance")))
            for n, key in public.items()
        ),
        producers=tuple(GenesisProducer(AccountName(n), Amount(_amount(stake, "stake"))) for n in producers),
        params=params,
    )


def _public_keys(keys_dir: Path, names: list[str]) -> dict[str, str]:
    """Each account's public key: from its key file, written first when there is none (an
    existing key file is never replaced)."""
    public: dict[str, str] = {}
    for name in names:
        path = keys_dir / f"{name}.json"
        if path.exists():
            public[name] = read_key_file(path).public_key
        else:
            key = generate_private_key()
            write_key_file(path, name, key)
            public[name] = key.public_key
    return public


def _write_node_configs(directory: Path, producers: list[str], base_port: int) -> list[tuple[str, ...]]:
    """One node config per producer in ``directory/nodes``, each node the others' peer, on
    consecutive ports; a row (number, producer, API, config) per node."""
    nodes_dir = directory / "nodes"
    nodes_dir.mkdir(exist_ok=True)
    urls = [f"http://127.0.0.1:{base_port + i}" for i in range(len(producers))]
    rows: list[tuple[str, ...]] = []
    for i, name in enumerate(producers):
        config = nodes_dir / f"{name}.toml"
        peers = [u for j, u in enumerate(urls) if j != i]
        config.write_text(
            f'genesis = "{(directory / "genesis.json").resolve()}"\n'
            f'key_file = "{(directory / "keys" / f"{name}.json").resolve()}"\n'
            f'data_dir = "{(directory / "data" / name).resolve()}"\n'
            f"port = {base_port + i}\n"
            f"peers = {json.dumps(peers)}\n"
        )
        rows.append((str(i + 1), name, urls[i], str(config)))
    return rows


@app.command()
def node(
    config: Path | None = typer.Option(None, "--config", "-c", help="Node config (TOML)."),
    port: int | None = typer.Option(None, help="Override the API port."),
    host: str | None = typer.Option(None, help="Override the listen address."),
    repair: bool = typer.Option(False, help="Delete a corrupted stored block and everything above it."),
) -> None:
    """Run a chain node (API, mempool, block store, production, peer sync)."""
    from chain.node.api import create_app
    from chain.node.blockstore import StoreError
    from chain.node.config import NodeSettings
    from chain.node.node import Node
    from service_shell.logs import configure_logging
    from service_shell.metrics import MultipleWorkersError
    from service_shell.settings import SettingsError, load_settings

    try:
        settings = load_settings(NodeSettings, config, port=port, host=host)
        configure_logging(settings.log_level)
        node_ = Node(settings)
        node_.open(repair=repair)
        app_ = create_app(node_)
    except (SettingsError, ChainError, KeyFileError, StoreError, MultipleWorkersError) as exc:
        fail(str(exc), 2)
    console.print(
        f"chain node {node_.chain_id[:16]}… on http://{settings.host}:{settings.port} "
        f"(producers: {', '.join(sorted(node_.keys)) or 'none'}; peers: {len(settings.peers)})"
    )
    run_app(app_, settings, node_)


@app.command()
def demo(
    slots: int = typer.Option(150, help="Slots to run."),
    delay: float = typer.Option(0.02, help="Seconds to pause between slots (for watching)."),
) -> None:
    """Run the chain state machine in one process: three producers, one goes offline and is jailed."""
    from chain.demo import run_chain_demo

    run_chain_demo(slots=slots, delay=delay, console=console)


@app.command()
def keygen(
    account: str = typer.Option(..., help="Account name the key is for."),
    out: Path = typer.Option(..., help="Key file to write (mode 0600; never overwritten)."),
) -> None:
    """Create an ed25519 key file."""
    path, public_key = new_key_file(out, account)
    console.print(f"wrote {path} for {account}: public key [bold]{public_key}[/]")


# --- reading ---------------------------------------------------------------------------------


def _read(url: str, as_json: bool, read: Callable[[NodeClient], Any]) -> Any:
    """What ``read`` asks of the node at ``url`` (failing with the node's error); with
    ``--json`` it is printed as it came and ``None`` returned."""
    with NodeClient(url) as client:
        try:
            data = read(client)
        except NodeError as exc:
            fail(f"{exc.code}: {exc.message}" if exc.code else exc.message)
    if as_json:
        _print_json(data)
        return None
    return data


@app.command()
def info(url: str = UrlOption, as_json: bool = JsonOption) -> None:
    """Show the chain id, head and LIB."""
    data = _read(url, as_json, NodeClient.get_info)
    if data is None:
        return
    table = Table(show_header=False)
    for key in (
        "chain_id",
        "head_block_num",
        "head_block_id",
        "head_block_time",
        "head_block_producer",
        "last_irreversible_block_num",
        "current_slot",
        "mempool_size",
        "producer_accounts",
    ):
        table.add_row(key, str(data.get(key)))
    console.print(table)


@app.command()
def block(
    ref: str = typer.Argument(..., help="Block number or id."),
    url: str = UrlOption,
    as_json: bool = JsonOption,
) -> None:
    """Show a block."""
    number_or_id = int(ref) if ref.isascii() and ref.isdigit() else ref
    data = _read(url, as_json, lambda client: client.get_block(number_or_id))
    if data is None:
        return
    header = data["header"]
    console.print(
        f"block [bold]{data['block_num']}[/] {data['id']}\n"
        f"slot {header['slot']} at {data['timestamp_iso']} by {header['producer']}"
        + (f" (built by {header['builder']})" if header["builder"] != header["producer"] else "")
    )
    table = Table("tx", "sender", "nonce", "fee", "action")
    for tx in data["transactions"]:
        action = {k: v for k, v in tx["action"].items() if k != "type"}
        table.add_row(
            tx["signature"][:12],
            tx["sender"],
            str(tx["nonce"]),
            format_amount(tx["fee"]),
            f"{tx['action']['type']} {json.dumps(action)}",
        )
    console.print(table)


@app.command()
def account(name: str = typer.Argument(...), url: str = UrlOption, as_json: bool = JsonOption) -> None:
    """Show an account: balance, nonce, producer record, delegations, unbonding."""
    data = _read(url, as_json, lambda client: client.get_account(name))
    if data is None:
        return
    console.print(
        f"[bold]{data['account_name']}[/] balance {data['balance']}, nonce {data['nonce']}, key {data['key']}"
    )
    if data["producer"]:
        p = data["producer"]
        console.print(
            f"producer: stake {p['total_stake_formatted']}, active {p['is_active']}, jailed {p['jailed']}"
            f" (until slot {p['jailed_until']}), produced {p['produced_blocks']}, missed {p['missed_slots']}"
        )
    for d in data["delegated"]:
        console.print(f"delegated {d['amount_formatted']} to {d['producer']}")
    for u in data["unbonding"]:
        console.print(
            f"unbonding {format_amount(u['amount'])} from {u['producer']} until slot {u['completion_slot']}"
        )


@app.command()
def producers(url: str = UrlOption, as_json: bool = JsonOption) -> None:
    """List producers by stake and the active schedule."""
    read = _read(
        url,
        as_json,
        lambda client: {"producers": client.get_producers(), "schedule": client.get_producer_schedule()},
    )
    if read is None:
        return
    data, schedule = read["producers"], read["schedule"]
    table = Table("producer", "stake", "active", "jailed", "produced", "missed")
    for row in data["rows"]:
        table.add_row(
            row["owner"],
            row["total_stake_formatted"],
            "yes" if row["is_active"] else "",
            "tombstoned" if row["tombstoned"] else ("yes" if row["jailed"] else ""),
            str(row["produced_blocks"]),
            str(row["missed_slots"]),
        )
    console.print(table)
    active = schedule["active"]
    console.print(
        f"schedule v{active['version']}: {', '.join(p['producer_name'] for p in active['producers'])}"
    )
    if schedule["pending"]:
        pending = schedule["pending"]
        console.print(
            f"pending v{pending['version']}: {', '.join(p['producer_name'] for p in pending['producers'])}"
            f" (irreversible: {pending['irreversible']})"
        )


# --- transactions ------------------------------------------------------------------------------


def send_action(url: str, key_path: Path, action: Action, fee: str, as_json: bool) -> dict[str, Any]:
    """Sign ``action`` with the key file's account and push it; prints the outcome."""
    try:
        result = push_action(url, key_path, action, fee)
    except SendError as exc:
        fail(str(exc), exc.exit_code)
    if as_json:
        _print_json(result)
    else:
        console.print(f"pushed [bold]{action.TYPE}[/] as {result['transaction_id']} (pending inclusion)")
    return result


def _name(text: str, what: str) -> AccountName:
    try:
        return validate_account_name(text, what)
    except ChainError as exc:
        fail(exc.message)
        raise AssertionError from None


@app.command()
def transfer(
    to: str = typer.Option(..., help="Recipient account."),
    amount: str = typer.Option(..., help='Amount, e.g. "12.5000 BPT".'),
    memo: str = typer.Option("", help="Memo."),
    key: Path = KeyOption,
    fee: str = FeeOption,
    url: str = UrlOption,
    as_json: bool = JsonOption,
) -> None:
    """Transfer tokens."""
    send_action(url, key, Transfer(_name(to, "to"), Amount(_amount(amount)), memo), fee, as_json)


@app.command("create-account")
def create_account(
    name: str = typer.Option(..., help="New account name."),
    public_key: str = typer.Option(..., help="Its ed25519 public key (hex)."),
    key: Path = KeyOption,
    fee: str = FeeOption,
    url: str = UrlOption,
    as_json: bool = JsonOption,
) -> None:
    """Create an account (the sender pays the creation fee)."""
    send_action(url, key, CreateAccount(_name(name, "name"), PublicKey(public_key.lower())), fee, as_json)


@app.command("register-producer")
def register_producer(
    producer_url: str = typer.Option("", "--producer-url", help="Producer's public URL."),
    key: Path = KeyOption,
    fee: str = FeeOption,
    url: str = UrlOption,
    as_json: bool = JsonOption,
) -> None:
    """Register the key's account as a block producer."""
    send_action(url, key, RegisterProducer(producer_url), fee, as_json)


def _delegation_command(action: type[Stake | Unstake], name: str, doc: str, producer_help: str) -> None:
    """``stake`` and ``unstake``: the same options, one action each."""

    def command(
        producer: str = typer.Option(..., help=producer_help),
        amount: str = typer.Option(..., help=f"Amount to {name}."),
        key: Path = KeyOption,
        fee: str = FeeOption,
        url: str = UrlOption,
        as_json: bool = JsonOption,
    ) -> None:
        send_action(url, key, action(_name(producer, "producer"), Amount(_amount(amount))), fee, as_json)

    command.__doc__ = doc
    app.command(name)(command)


_delegation_command(
    Stake, "stake", "Delegate stake to a producer.", "Producer to delegate to (yourself for self-stake)."
)
_delegation_command(
    Unstake, "unstake", "Start unbonding part of a delegation.", "Producer to undelegate from."
)


@app.command()
def withdraw(
    key: Path = KeyOption, fee: str = FeeOption, url: str = UrlOption, as_json: bool = JsonOption
) -> None:
    """Withdraw matured unbonding entries."""
    send_action(url, key, Withdraw(), fee, as_json)


@app.command()
def unjail(
    key: Path = KeyOption, fee: str = FeeOption, url: str = UrlOption, as_json: bool = JsonOption
) -> None:
    """Release your producer from jail after the jail period."""
    send_action(url, key, Unjail(), fee, as_json)


def main() -> None:  # pragma: no cover - convenience for python -m
    app()
    sys.exit(0)
