"""The devnet's set-up: its accounts, keys, genesis and the config file of each process.

Keys are generated at run time (mode 0600). Everyone is funded at genesis; the pool and two
solo producers produce. The genesis is written last, once every process is loaded, so that
the chain starts when everyone is there; the configs name its path already.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import tempfile
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from bppool.devnet.processes import Proc
from chain.core import ChainParams, Genesis, GenesisAccount, GenesisProducer
from chain.core.types import AccountName, Amount, PublicKey, Timestamp
from service_shell.db import normalize_url
from service_shell.keys import KeyFile, generate_private_key, write_key_file

POOL = "pool"
SOLOS = ("soloa", "solob")
USERS = ("usera", "userb", "userc", "userd")
BALANCE = 1_000_000_0000
STAKE = 100_000_0000
DAC_EPOCH_SLOTS = 72
DAC_VOTING_S = 10
DAC_TIMELOCK_S = 2

# What each kind of process imports before the genesis exists (see bppool.devnet_child): the
# modules of its command, found with ``python -X importtime``. One missing costs time only.
PRELOAD = ("bppool.cli", "httpcore", "uvicorn")
PRELOAD_NODE = (*PRELOAD, "chain.node.api", "chain.node.node", "service_shell.clitools")
PRELOAD_EMITTER = (
    *PRELOAD,
    "emitter.main",
    "emitter.service",
    "pool_dac.extension",
    "service_shell.clitools",
)
PRELOAD_MEMBER = (*PRELOAD, "producer_client.daemon", "service_shell.daemon", "starlette.applications")


def member_names(count: int) -> list[str]:
    """``member1`` … ``member5``, ``member11`` …: account names allow digits 1-5 only."""
    names = []
    for i in range(1, count + 1):
        digits, n = "", i
        while n:
            n, r = divmod(n - 1, 5)
            digits = "12345"[r] + digits
        names.append(f"member{digits}")
    return names


def accounts(members: list[str]) -> list[str]:
    """Every account of the genesis."""
    return [POOL, *SOLOS, *members, *USERS]


def free_port() -> int:
    """A TCP port free on loopback right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_root(data_dir: Path | None) -> tuple[Path, bool]:
    """The devnet's directory (with ``logs`` and ``run``) and whether the devnet made it (a
    temporary one, without ``data_dir``); a given ``data_dir`` must be empty."""
    if data_dir is None:
        root, own = Path(tempfile.mkdtemp(prefix="bppool-devnet-")), True
    else:
        root, own = data_dir.resolve(), False
        if root.exists() and any(root.iterdir()):
            raise SystemExit(f"{root} is not empty; give bppool devnet an empty --data-dir")
        root.mkdir(parents=True, exist_ok=True)
    (root / "logs").mkdir()
    (root / "run").mkdir()
    return root, own


def generate_keys(keys_dir: Path, names: list[str]) -> dict[str, KeyFile]:
    """A fresh key for each account, written to ``keys_dir/NAME.json`` (mode 0600)."""
    keys = {}
    for name in names:
        key = generate_private_key()
        write_key_file(keys_dir / f"{name}.json", name, key)
        keys[name] = KeyFile(name, key)
    return keys


def node_proc(root: Path, genesis_path: Path, builders: list[str] | None = None) -> Proc:
    """The chain node (producing for the solo producers, building for ``builders``) and its
    config file."""
    port = free_port()
    (root / "node.toml").write_text(
        f'genesis = "{genesis_path}"\ndata_dir = "{root / "node"}"\nport = {port}\n'
        f"key_files = {json.dumps([str(root / 'keys' / f'{s}.json') for s in SOLOS])}\n"
        f"builders = {json.dumps(builders or [])}\n"
        'log_level = "info"\n'
    )
    args = ["chain", "node", "--config", str(root / "node.toml")]
    return Proc.serving("node", args, f"http://127.0.0.1:{port}", PRELOAD_NODE, docs=True)


def emitter_procs(
    root: Path,
    genesis_path: Path,
    node_url: str,
    *,
    count: int,
    strategy: str,
    database_url: str | None,
    dac_table: str,
) -> list[Proc]:
    """The pool service (holding the pool's key, with its DAC) and its config file; with
    ``count`` > 1, the instances of an emitter group on one PostgreSQL database."""
    procs = []
    for i in range(1, count + 1):
        name = "emitter" if count == 1 else f"emitter{i}"
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        db = f'database_url = "{database_url}"\n' if database_url else ""
        group = f'instance_name = "{name}"\nadvertise_url = "{url}"\n' if count > 1 else ""
        (root / f"{name}.toml").write_text(
            f'genesis = "{genesis_path}"\npool_key_file = "{root / "keys" / "pool.json"}"\n'
            f'node_urls = ["{node_url}"]\ndata_dir = "{root / name}"\nport = {port}\n'
            f'strategy = "{strategy}"\n{db}{group}log_level = "info"\n\n{dac_table}'
        )
        args = ["emitter", "serve", "--config", str(root / f"{name}.toml")]
        procs.append(Proc.serving(name, args, url, PRELOAD_EMITTER, docs=True))
    return procs


def create_database(server_url: str) -> str:
    """A new, empty database on the PostgreSQL server of ``server_url`` (any database of it
    to connect to); returns its URL."""
    import psycopg

    url = make_url(server_url)
    name = f"bppool_devnet_{secrets.token_hex(4)}"
    admin = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return url.set(database=name).render_as_string(hide_password=False)


def drop_database(database_url: str) -> None:
    """Drop a database :func:`create_database` made (its sessions ended first)."""
    import psycopg

    url = make_url(database_url)
    name = url.database
    admin = url.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')


def is_postgres_url(url: str | None) -> bool:
    """A PostgreSQL URL (``postgresql://`` or ``postgres://``, any driver)."""
    return bool(url) and make_url(normalize_url(url or "")).get_backend_name() == "postgresql"


def member_procs(
    root: Path, genesis_path: Path, names: list[str], node_url: str, emitter_urls: list[str]
) -> list[Proc]:
    """The pool's members and their config files (every instance of the emitter group)."""
    procs = []
    emitters = (
        f"emitter_urls = {json.dumps(emitter_urls)}\n"
        if len(emitter_urls) > 1
        else f'emitter_url = "{emitter_urls[0]}"\n'
    )
    for i, name in enumerate(names):
        port = free_port()
        config = root / f"{name}.toml"
        # Overlapping latency profiles: the fastest member does not always win.
        config.write_text(
            f'key_file = "{root / "keys" / f"{name}.json"}"\ngenesis = "{genesis_path}"\n'
            f'{emitters}node_url = "{node_url}"\nmetrics_port = {port}\n'
            f"delay_ms = {5 + 8 * i}\njitter_ms = 40\nfailure_rate = 0.05\n"
            f'endpoint = "devnet://{name}"\nlog_level = "info"\n'
        )
        args = ["producer", "run", "--config", str(config)]
        procs.append(Proc.serving(name, args, f"http://127.0.0.1:{port}", PRELOAD_MEMBER, docs=False))
    return procs


def dac_table(*, enabled: bool, members: list[str], strategy: str, overrides: dict[str, Any]) -> str:
    """The ``[extensions.dac]`` table of the pool service's config: the members are the DAC's
    founders, epochs and votes short (``overrides`` replace any setting)."""
    settings: dict[str, Any] = {
        "enabled": enabled,
        "bootstrap_members": members,
        "bootstrap_parameters": {
            "epoch_slots": DAC_EPOCH_SLOTS,
            "voting_period_s": DAC_VOTING_S,
            "timelock_s": DAC_TIMELOCK_S,
            "strategy": strategy,
            "arbitrator": POOL,
        },
        **overrides,
    }
    lines = ["[extensions.dac]"]
    lines += [f"{k} = {json.dumps(v)}" for k, v in settings.items() if not isinstance(v, dict | None)]
    for key, value in settings.items():
        if isinstance(value, dict):
            lines.append(f"[extensions.dac.{key}]")
            lines += [f"{k} = {json.dumps(v)}" for k, v in value.items()]
    return "\n".join(lines) + "\n"


def devnet_genesis(genesis_time_ms: int, keys: dict[str, KeyFile], names: list[str]) -> Genesis:
    """The genesis: ``names`` funded, the pool and the solo producers staked."""
    return Genesis(
        genesis_time=Timestamp(genesis_time_ms),
        accounts=tuple(
            GenesisAccount(AccountName(n), PublicKey(keys[n].public_key), Amount(BALANCE)) for n in names
        ),
        producers=tuple(GenesisProducer(AccountName(n), Amount(STAKE)) for n in (POOL, *SOLOS)),
        params=ChainParams(),
        network="bppool-devnet",
    )


def write_genesis(path: Path, genesis: Genesis) -> None:
    """Write ``genesis`` whole or not at all (the processes start as soon as the file exists)."""
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(genesis.to_dict(), indent=2))
    os.replace(partial, path)
