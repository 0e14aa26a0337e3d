"""Node test helpers: a genesis on disk with key files, a settable clock, app clients."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chain.core import PrivateKey, Transaction
from chain.core.containers import Action, Transfer
from chain.core.params import ChainParams, Genesis, GenesisAccount, GenesisProducer
from service_shell.keys import write_key_file
from tests.helpers.chain import GENESIS_TIME, key_for, sign_tx


class FakeClock:
    """A clock tests move by hand; sleepers wake when it passes their time."""

    def __init__(self, now_ms: int = GENESIS_TIME) -> None:
        self._now = now_ms
        self._changed = asyncio.Event()

    def now_ms(self) -> int:
        return self._now

    def set(self, now_ms: int) -> None:
        self._now = now_ms
        self._changed.set()
        self._changed = asyncio.Event()

    def at_slot(self, slot: int, offset_ms: int = 0, slot_ms: int = 500) -> None:
        self.set(GENESIS_TIME + slot * slot_ms + offset_ms)

    async def sleep_until_ms(self, when_ms: int) -> None:
        while self._now < when_ms:
            await self._changed.wait()


@dataclass
class Network:
    """A genesis file and key files in a folder."""

    root: Path
    genesis: Genesis
    genesis_path: Path

    def key_path(self, name: str) -> Path:
        return self.root / "keys" / f"{name}.json"

    def key(self, name: str) -> PrivateKey:
        return key_for(name)


def make_network(
    root: Path,
    producers: Sequence[str] = ("alpha",),
    accounts: Sequence[str] = ("alice", "bob", "carol"),
    *,
    params: ChainParams | None = None,
    genesis_time: int = GENESIS_TIME,
) -> Network:
    """Write genesis.json and 0600 key files (deterministic test keys) under ``root``."""
    names = list(dict.fromkeys([*producers, *accounts]))
    genesis = Genesis(
        genesis_time=genesis_time,  # type: ignore[arg-type]
        accounts=tuple(GenesisAccount(n, key_for(n).public_key, 1_000_000_0000) for n in names),  # type: ignore[arg-type]
        producers=tuple(GenesisProducer(p, 100_000_0000) for p in producers),  # type: ignore[arg-type]
        params=params or ChainParams(),
    )
    root.mkdir(parents=True, exist_ok=True)
    path = root / "genesis.json"
    path.write_text(json.dumps(genesis.to_dict()))
    for name in names:
        key_path = root / "keys" / f"{name}.json"
        if not key_path.exists():
            write_key_file(key_path, name, key_for(name))
    return Network(root, genesis, path)


def signed_tx(
    genesis: Genesis,
    sender: str,
    action: Action,
    *,
    nonce: int = 0,
    expiration: int | None = None,
    chain_id: str | None = None,
    **kw: Any,
) -> Transaction:
    """A signed transaction on ``genesis``'s chain, by default valid for 3,000 s after its
    start (``fee`` and ``key`` as :func:`tests.helpers.chain.sign_tx`'s)."""
    if expiration is None:
        expiration = genesis.genesis_time + 3_000_000
    return sign_tx(chain_id or genesis.chain_id, sender, action, nonce=nonce, expiration=expiration, **kw)


def transfer_tx(genesis: Genesis, sender: str, to: str, amount: int, **kw: object) -> Transaction:
    return signed_tx(genesis, sender, Transfer(to, amount), **kw)  # type: ignore[arg-type]
