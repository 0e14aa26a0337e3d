"""A pool service with the DAC (scheduler off: tests run its jobs with ``tick``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pool_dac.service import Dac
from pool_protocol.messages import Ballot, ConstitutionSignature, Ruling
from pool_protocol.requests import request_headers
from tests.emitter.conftest import PoolHarness, start_pool
from tests.helpers.chain import key_for

DAC_SETTINGS = {
    "bootstrap_members": ["alice", "bob", "carol"],
    "bootstrap_parameters": {"voting_period_s": 10, "timelock_s": 5, "epoch_slots": 36, "quorum_bps": 5000},
    "scheduler": False,
}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass
class DacHarness:
    pool: PoolHarness

    @property
    def dac(self) -> Dac:
        return self.pool.app.state.dac  # type: ignore[attr-defined, no-any-return]

    @property
    def clock(self):  # type: ignore[no-untyped-def]
        return self.pool.clock

    async def call(self, member: str, method: str, path: str, body: Any = None) -> Any:
        """A signed request of ``member`` (answers raise PoolError on 4xx)."""
        import orjson

        from producer_client.client import _parse

        client = self.pool.members.get(member) or self.pool.admin
        assert client is not None
        raw = orjson.dumps(body) if body is not None else b""
        self.clock.set(self.clock.now_ms() + 1)
        headers = request_headers(
            key_for(member),
            member,
            chain_id=self.dac.host.chain_id,
            pool="pool",
            method=method,
            path=path,
            timestamp=self.clock.now_ms(),
            body=raw,
        )
        response = await client._http.request(
            method, path, content=raw or None, headers={**headers, "content-type": "application/json"}
        )
        return _parse(response)

    async def get(self, path: str) -> Any:
        from producer_client.client import _parse

        client = self.pool.admin
        assert client is not None
        return _parse(await client._http.get(path))

    def ballot(self, voter: str, proposal_id: int, choice: str, ts: int | None = None) -> dict[str, Any]:
        return (
            Ballot(
                self.dac.host.chain_id,
                "pool",
                proposal_id,
                voter,
                choice,
                ts if ts is not None else self.clock.now_ms(),
            )
            .signed(key_for(voter))
            .to_dict()
        )

    def constitution_signature(self, member: str) -> dict[str, Any]:
        return (
            ConstitutionSignature(
                self.dac.host.chain_id,
                "pool",
                member,
                self.dac.constitution_version,
                self.dac.host.constitution_hash,
                self.clock.now_ms(),
            )
            .signed(key_for(member))
            .to_dict()
        )

    def ruling(
        self, arbitrator: str, dispute_id: int, decision: str, epoch: int, bps: int = 0
    ) -> dict[str, Any]:
        return (
            Ruling(
                self.dac.host.chain_id,
                "pool",
                dispute_id,
                arbitrator,
                decision,
                bps,
                epoch,
                "ruled",
                self.clock.now_ms(),
            )
            .signed(key_for(arbitrator))
            .to_dict()
        )

    async def propose(self, proposer: str, kind: str, payload: dict[str, Any]) -> Any:
        """``proposer``'s proposal of ``kind`` (raises PoolError on 4xx)."""
        return await self.call(proposer, "POST", "/v1/dac/proposals", {"kind": kind, "payload": payload})

    async def pass_proposal(
        self, proposer: str, kind: str, payload: dict[str, Any], voters: tuple[str, ...] = ("alice", "bob")
    ) -> dict[str, Any]:
        proposal = await self.propose(proposer, kind, payload)
        for voter in voters:
            await self.call(
                voter,
                "POST",
                f"/v1/dac/proposals/{proposal['id']}/ballots",
                self.ballot(voter, proposal["id"], "yes"),
            )
        self.clock.set(self.clock.now_ms() + 10_001)
        await self.dac.tick()
        self.clock.set(self.clock.now_ms() + 5_001)
        await self.dac.tick()
        result = await self.get(f"/v1/dac/proposals/{proposal['id']}")
        assert result["state"] == "Executed", result
        return result  # type: ignore[no-any-return]


@pytest.fixture
async def dac(tmp_path: Path, database_url: str) -> AsyncIterator[DacHarness]:
    async with AsyncExitStack() as stack:
        yield DacHarness(await start_pool(stack, tmp_path, database_url, dac=DAC_SETTINGS))
