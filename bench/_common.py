"""Helpers shared by the benchmarks: a minimal keep-alive HTTP/1.1 client, ports, names,
keys, a one-producer genesis and signed transfers.

``httpx`` is imported where used, so that the benchmarks of the chain core alone
(``chain_apply``, ``builder``) carry no web library in memory while they measure.
"""

from __future__ import annotations

import hashlib
import os
import socket
import time
from collections.abc import Iterable

from chain.core import ChainParams, Genesis, GenesisAccount, GenesisProducer, PrivateKey, Transaction
from chain.core.containers import Transfer
from service_shell.rawhttp import RawConnection


def name_for(i: int, prefix: str = "s") -> str:
    """A valid account name for index ``i`` (letters only)."""
    digits = "abcdefghijklmnopqrstuvwxyz"
    out, i = "", i + 1
    while i:
        i, r = divmod(i - 1, len(digits))
        out = digits[r] + out
    return (prefix + out)[:12]


def bench_key(scope: str, name: object) -> PrivateKey:
    """A deterministic key for ``name`` within one benchmark's ``scope``."""
    return PrivateKey(hashlib.sha256(f"{scope}/{name}".encode()).digest())


def one_producer_genesis(
    producer: str, accounts: Iterable[tuple[str, str, int]], *, genesis_time: int, **params: int
) -> Genesis:
    """A genesis whose only producer is ``producer``, with ``accounts`` as (name, public key,
    balance) in that order and ``params`` over the chain's defaults."""
    return Genesis(
        genesis_time=genesis_time,  # type: ignore[arg-type]
        accounts=tuple(GenesisAccount(name, key, balance) for name, key, balance in accounts),  # type: ignore[arg-type]
        producers=(GenesisProducer(producer, 1_0000),),  # type: ignore[arg-type]
        params=ChainParams(**params),
    )


def signed_transfer(
    chain_id: str, sender: str, key: PrivateKey, *, to: str, nonce: int, expiration: int, fee: int = 1
) -> Transaction:
    """``sender``'s transfer of one unit to ``to``, signed with ``key``."""
    return Transaction(chain_id, sender, nonce, fee, expiration, Transfer(to, 1)).sign(key)  # type: ignore[arg-type]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(port: int, path: str = "/readyz", timeout: float = 60) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}{path}", timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"server on port {port} did not become ready")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def cores() -> list[int]:
    return sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []


# A bound on each answer read: far beyond any the benchmarks wait for, it only ends a hang.
ANSWER_TIMEOUT_S = 60.0


class Connection:
    """One keep-alive HTTP/1.1 connection (the services' raw client, ``service_shell.rawhttp``); a
    general-purpose client would cost as much per request as the servers being measured."""

    def __init__(self, raw: RawConnection) -> None:
        self.raw = raw

    @classmethod
    async def open(cls, port: int) -> Connection:
        return cls(await RawConnection.open(f"http://127.0.0.1:{port}", timeout=ANSWER_TIMEOUT_S))

    async def post(self, path: str, body: bytes, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        self.raw.send("POST", path, body, headers or {})
        answer = await self.raw.response()
        return answer.status, answer.body

    def close(self) -> None:
        self.raw.close()
