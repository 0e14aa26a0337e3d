"""Helpers shared by the benchmarks: a minimal keep-alive HTTP/1.1 client, ports, names."""

from __future__ import annotations

import asyncio
import os
import socket
import time

import httpx
from fastapi import FastAPI, Request
from starlette.responses import Response


def name_for(i: int, prefix: str = "s") -> str:
    """A valid account name for index ``i`` (letters only)."""
    digits = "abcdefghijklmnopqrstuvwxyz"
    out, i = "", i + 1
    while i:
        i, r = divmod(i - 1, len(digits))
        out = digits[r] + out
    return (prefix + out)[:12]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(port: int, path: str = "/readyz", timeout: float = 60) -> None:
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


class Connection:
    """One keep-alive HTTP/1.1 connection; a general-purpose client would cost as much per
    request as the servers being measured."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str) -> None:
        self.reader, self.writer, self.host = reader, writer, host

    @classmethod
    async def open(cls, port: int) -> Connection:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=2**24)
        return cls(reader, writer, f"127.0.0.1:{port}")

    async def post(self, path: str, body: bytes, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Type: application/json\r\n{extra}"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        self.writer.write(head + body)
        status_line = await self.reader.readline()
        status = int(status_line.split()[1])
        length = 0
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        return status, await self.reader.readexactly(length)

    def close(self) -> None:
        self.writer.close()


def serve_bare(port: int) -> None:
    """A bare FastAPI app whose POST endpoints only read the body (the comparison baseline)."""
    import uvicorn

    app = FastAPI()

    async def read(request: Request) -> Response:
        await request.body()
        return Response(b'{"ok":true}', status_code=202, media_type="application/json")

    for path in ("/v1/chain/push_transaction", "/v1/pool/candidates"):
        app.add_api_route(path, read, methods=["POST"])
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", loop="uvloop", http="httptools")
