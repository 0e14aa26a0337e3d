"""Sign an action with a key file's account and push it to a node (the CLIs' transactions)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from chain.client.http import NodeClient, NodeError
from chain.core import Transaction, parse_amount
from chain.core.containers import Action
from chain.core.errors import ChainError
from chain.core.types import AccountName, Amount, Timestamp
from service_shell.keys import KeyFileError, read_key_file

EXPIRATION_MS = 30 * 60 * 1000
"""How long a transaction sent this way may wait for inclusion."""


class SendError(Exception):
    """The action could not be signed or pushed; ``exit_code`` is what a CLI should exit with."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def parse_fee(text: str) -> Amount:
    """A fee written as an amount (``"0.0010 BPT"``)."""
    try:
        return parse_amount(text)
    except ChainError as exc:
        raise SendError(exc.message.replace("amount:", "fee:", 1)) from None


def send_action(url: str, key_path: Path, action: Action, fee: str) -> dict[str, Any]:
    """Sign ``action`` as the key file's account (next free nonce) and push it; the node's answer."""
    fee_amount = parse_fee(fee)
    try:
        keyfile = read_key_file(key_path)
    except KeyFileError as exc:
        raise SendError(str(exc), 2) from None
    try:
        with NodeClient(url) as client:
            info = client.get_info()
            account = client.get_account(keyfile.account)
            if account["key"] != keyfile.public_key:
                raise SendError(f"{key_path} holds a key that is not {keyfile.account}'s on this chain")
            now = info["genesis_time"] + info["current_slot"] * info["slot_ms"]
            tx = Transaction(
                chain_id=info["chain_id"],
                sender=AccountName(keyfile.account),
                nonce=account["nonce"] + account["pending_transactions"],
                fee=fee_amount,
                expiration=Timestamp(now + EXPIRATION_MS),
                action=action,
            ).sign(keyfile.key)
            return client.push_transaction(tx)
    except NodeError as exc:
        raise SendError(f"{exc.code}: {exc.message}" if exc.code else exc.message) from None
