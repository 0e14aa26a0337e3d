"""API fuzzing fixtures: a devnet (chain node, pool service with its DAC, an admitted member)
started as real processes, and every request signed as the pool protocol signs them."""

from __future__ import annotations

import asyncio
import io
import os
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
import requests
import schemathesis
from rich.console import Console

from bppool.devnet import POOL, Devnet
from pool_protocol.requests import request_headers
from tests.helpers.devnet import stopped_at_the_end

MAX_EXAMPLES = int(os.environ.get("BPPOOL_FUZZ_EXAMPLES", "15"))
"""Cases per operation and generation phase (set ``BPPOOL_FUZZ_EXAMPLES`` for a longer run)."""

ADMIN_PREFIX = "/v1/pool/admin/"


class SignRequests(requests.auth.AuthBase):
    """Signs every request as the pool protocol does: the pool's admin routes with the pool's
    key, everything else as the admitted member. Each signature is fresh: timestamps are
    unique (and rising), so replay protection never sees the same signed request twice."""

    def __init__(self, devnet: Devnet, member: str) -> None:
        self.devnet = devnet
        self.member = member
        self._last_ms = 0
        self._lock = threading.Lock()

    def _timestamp(self) -> int:
        with self._lock:
            self._last_ms = max(int(time.time() * 1000), self._last_ms + 1)
            return self._last_ms

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        path = unquote(urlsplit(request.url or "").path)  # the server checks the decoded path
        signer = POOL if path.startswith(ADMIN_PREFIX) else self.member
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode()
        request.headers.update(
            request_headers(
                self.devnet.keys[signer].key,
                signer,
                chain_id=self.devnet.genesis.chain_id,
                pool=POOL,
                method=request.method or "GET",
                path=path,
                timestamp=self._timestamp(),
                body=body,
            )
        )
        return request


@pytest.fixture(scope="session")
def devnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devnet]:
    """A chain node, the pool service with its DAC and one admitted member, as processes."""
    net = Devnet(
        members=1,
        tx_rate=2,
        data_dir=tmp_path_factory.mktemp("fuzz") / "devnet",
        console=Console(file=io.StringIO()),
    )
    net.prepare()
    with stopped_at_the_end(net, "node", "emitter"):
        asyncio.run(net.start())
        yield net


@pytest.fixture(scope="session")
def signed_session(devnet: Devnet) -> Iterator[requests.Session]:
    """A requests session whose every request is signed (see :class:`SignRequests`)."""
    session = requests.Session()
    session.auth = SignRequests(devnet, devnet.member_names[0])
    yield session
    session.close()


def load_schema(url: str) -> schemathesis.BaseSchema:
    """The service's OpenAPI, with the fuzzing's settings."""
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json", wait_for_schema=30)
    project = schema.config
    project.update(base_url=url, request_timeout=5)
    project.max_stream_events = 1  # event streams: the first event (``hello``) is enough
    project.generation.update(max_examples=MAX_EXAMPLES)
    return schema


@pytest.fixture(scope="session")
def node_schema(devnet: Devnet) -> schemathesis.BaseSchema:
    return load_schema(devnet.node_url)


@pytest.fixture(scope="session")
def pool_schema(devnet: Devnet) -> schemathesis.BaseSchema:
    return load_schema(devnet.emitter_url)


class Tally:
    """Operations and cases exercised per service (printed at the end of the test run)."""

    def __init__(self) -> None:
        self.cases: Counter[str] = Counter()
        self.operations: dict[str, set[str]] = {}
        self.statuses: dict[str, Counter[str]] = {}
        self.by_operation: dict[str, set[int]] = {}

    def add(self, service: str, operation: str) -> None:
        self.cases[service] += 1
        self.operations.setdefault(service, set()).add(operation)

    def answered(self, service: str, operation: str, status: int) -> None:
        self.statuses.setdefault(service, Counter())[f"{status // 100}xx"] += 1
        self.by_operation.setdefault(f"{service}: {operation}", set()).add(status)

    def report(self) -> str:
        return "; ".join(
            f"{service}: {len(self.operations[service])} operations, {self.cases[service]} cases "
            f"({', '.join(f'{n} {k}' for k, n in sorted(self.statuses.get(service, Counter()).items()))})"
            for service in sorted(self.cases)
        )


TALLY = Tally()


@pytest.fixture(scope="session")
def tally() -> Tally:
    """The test run's figures."""
    return TALLY


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print the figures (and write them to ``BPPOOL_FUZZ_REPORT``, with the statuses seen
    per operation)."""
    if not TALLY.cases:
        return
    line = f"API fuzzing (max_examples={MAX_EXAMPLES}): {TALLY.report()}"
    terminalreporter.write_line(line)
    report = os.environ.get("BPPOOL_FUZZ_REPORT")
    if report:
        statuses = (f"{op}: {sorted(TALLY.by_operation[op])}" for op in sorted(TALLY.by_operation))
        Path(report).write_text("\n".join((line, *statuses)) + "\n")
