"""The devnet's traffic: transfers between the user accounts, so blocks carry transactions."""

from __future__ import annotations

import asyncio
import random
import time

from bppool.devnet.setup import USERS
from chain.client.http import AsyncNodeClient, NodeError
from chain.core import Transaction
from chain.core.containers import Transfer
from chain.core.types import AccountName, Amount, Hash32, Timestamp
from service_shell.keys import KeyFile


async def send_transfers(node_url: str, chain_id: Hash32, keys: dict[str, KeyFile], rate: float) -> None:
    """Send random transfers between :data:`USERS` to the node, ``rate`` a second, until
    cancelled; a sender's nonce is read back from the node when it was refused."""
    node = AsyncNodeClient(node_url)
    nonces = dict.fromkeys(USERS, 0)
    rng = random.Random()
    try:
        while True:
            await asyncio.sleep(1 / rate)
            sender, to = rng.sample(USERS, 2)
            tx = Transaction(
                chain_id=chain_id,
                sender=AccountName(sender),
                nonce=nonces[sender],
                fee=Amount(rng.randint(1, 100)),
                expiration=Timestamp(int(time.time() * 1000) + 120_000),
                action=Transfer(AccountName(to), Amount(rng.randint(1, 10_0000))),
            ).sign(keys[sender].key)
            try:
                await node.push_transaction(tx)
                nonces[sender] += 1
            except NodeError as exc:
                if exc.code == "nonce_mismatch":
                    account = await node.get_account(sender)
                    nonces[sender] = account["nonce"] + account["pending_transactions"]
    finally:
        await node.aclose()
