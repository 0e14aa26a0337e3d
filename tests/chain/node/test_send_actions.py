"""Signing and pushing an action from a key file (`chain.client.actions`) against a real node."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from chain.cli import app
from chain.client.actions import SendError, parse_fee, send_action
from chain.core.containers import Transfer
from chain.core.types import AccountName, Amount
from chain.node.api import create_app
from service_shell.keys import write_key_file
from tests.chain.node.conftest import NodeHarness
from tests.helpers.chain import key_for
from tests.helpers.servers import serve_app

pytestmark = pytest.mark.anyio


async def test_an_action_is_signed_with_the_next_nonce_and_pushed(harness: NodeHarness) -> None:
    key = harness.network.key_path("alice")
    action = Transfer(AccountName("bob"), Amount(5), "hello")
    async with serve_app(create_app(harness.node)) as url:
        first = await asyncio.to_thread(send_action, url, key, action, "0.0010 BPT")
        second = await asyncio.to_thread(send_action, url, key, action, "0.0010 BPT")
    pending = {tx.id: tx for tx in harness.node.mempool.pending()}
    assert set(pending) == {first["transaction_id"], second["transaction_id"]}
    nonces = sorted(tx.nonce for tx in pending.values())
    assert nonces == [nonces[0], nonces[0] + 1]
    assert all(tx.fee == 10 and tx.action == action for tx in pending.values())


async def test_the_cli_prints_what_it_pushed_and_errors_without_traceback(
    harness: NodeHarness, tmp_path: Path
) -> None:
    alice = str(harness.network.key_path("alice"))
    stranger = write_key_file(tmp_path / "stranger.json", "alice", key_for("mallory"))
    runner = CliRunner()

    def transfer(key: str, url: str, *extra: str):  # type: ignore[no-untyped-def]
        args = ["transfer", "--to", "bob", "--amount", "1", "-k", key, "--url", url, *extra]
        return asyncio.to_thread(runner.invoke, app, args)

    async with serve_app(create_app(harness.node)) as url:
        ok = await transfer(alice, url)
        as_json = await transfer(alice, url, "--json")
        bad_fee = await transfer(alice, url, "--fee", "x")
        wrong_key = await transfer(str(stranger), url)
        missing = await transfer(str(tmp_path / "none.json"), url)
    assert ok.exit_code == 0 and "pushed transfer as" in ok.output, ok.output
    assert json.loads(as_json.output)["transaction_id"] in harness.node.mempool
    assert bad_fee.exit_code == 1 and "fee:" in bad_fee.output, bad_fee.output
    assert wrong_key.exit_code == 1 and "holds a key that is not alice's" in wrong_key.output
    assert missing.exit_code == 2 and "none.json" in missing.output, missing.output
    for result in (bad_fee, wrong_key, missing):
        assert "Traceback" not in result.output


def test_a_fee_is_an_amount() -> None:
    assert parse_fee("0.0010 BPT") == 10
    with pytest.raises(SendError, match="^fee:"):
        parse_fee("1.00001")
