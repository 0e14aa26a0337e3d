"""``bppool dac ...`` against a real pool service with its DAC (the CLI runs in a thread: it
uses a synchronous client while the service runs on the test's event loop)."""

from __future__ import annotations

import asyncio

import pytest
from typer.testing import CliRunner

from pool_dac.cli import app
from service_shell.clitools import PoolSigner
from tests.pool_dac.conftest import DacHarness

pytestmark = pytest.mark.anyio


async def dac_cli(dac: DacHarness, *args: str) -> tuple[int, str]:
    result = await asyncio.to_thread(CliRunner().invoke, app, [*args, "--url", dac.pool.emitter_url])
    return result.exit_code, result.output


def key(dac: DacHarness, member: str) -> str:
    return str(dac.pool.network.key_path(member))


async def propose_parameter(dac: DacHarness, name: str, value: str) -> tuple[int, str]:
    """``dac propose set_parameter`` of ``name`` to ``value``, as alice."""
    return await dac_cli(
        dac, "propose", "set_parameter", "--name", name, "--value", value, "--key", key(dac, "alice")
    )


async def test_propose_vote_and_read_through_the_cli(
    dac: DacHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Signed requests carry the service's (test) time.
    monkeypatch.setattr(PoolSigner, "now", staticmethod(dac.clock.now_ms))
    code, out = await dac_cli(dac, "params")
    assert code == 0 and "treasury_fee_bps" in out
    code, out = await dac_cli(dac, "constitution")
    assert code == 0 and "alice" in out
    code, out = await propose_parameter(dac, "reward_policy", "hybrid")
    assert code == 0 and "proposal 1 (set_parameter) is Active" in out, out
    for voter in ("alice", "bob"):
        dac.clock.set(dac.clock.now_ms() + 1)
        code, out = await dac_cli(dac, "vote", "1", "yes", "--key", key(dac, voter))
        assert code == 0 and "voted yes" in out, out
    code, out = await dac_cli(dac, "proposal", "1", "--json")
    assert code == 0 and '"yes": 2' in out
    code, out = await dac_cli(dac, "proposals")
    assert code == 0 and "set_parameter" in out, out


async def test_bad_input_gets_a_clear_error_without_a_traceback(
    dac: DacHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(PoolSigner, "now", staticmethod(dac.clock.now_ms))
    code, out = await dac_cli(dac, "vote", "1", "maybe", "--key", key(dac, "alice"))
    assert code == 1 and "choice must be yes, no or abstain" in out
    code, out = await propose_parameter(dac, "treasury_fee_bps", "9000")
    assert code == 1 and "invalid_proposal" in out and "5000" in out
    code, out = await dac_cli(dac, "propose", "nonsense", "--key", key(dac, "alice"))
    assert code == 1 and "unknown kind" in out
    code, out = await dac_cli(dac, "statement", "7")
    assert code == 1 and "unknown_epoch" in out
    code, out = await dac_cli(dac, "vote", "1", "yes", "--key", "/nonexistent/key.json")
    assert code == 2 and "Traceback" not in out
