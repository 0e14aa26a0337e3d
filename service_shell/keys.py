"""Key generation and key files (the I/O shell around :class:`chain.core.PrivateKey`).

A key file is JSON ``{"account": ..., "public_key": ..., "private_key": ...}`` written with
mode 0600. Reading refuses a file that other users can read, like ssh does.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path

import nacl.utils

from chain.core import PrivateKey
from chain.core.errors import MalformedInput
from chain.core.types import validate_account_name


class KeyFileError(Exception):
    """A key file that cannot be written or read safely."""


def generate_private_key() -> PrivateKey:
    """A fresh ed25519 key from the operating system's randomness."""
    return PrivateKey(nacl.utils.random(32))


@dataclass(frozen=True)
class KeyFile:
    """An account name bound to its private key."""

    account: str
    key: PrivateKey

    @property
    def public_key(self) -> str:
        return self.key.public_key


def write_key_file(path: Path, account: str, key: PrivateKey, *, overwrite: bool = False) -> Path:
    """Write ``account``'s key to ``path`` with mode 0600; refuses to overwrite by default."""
    validate_account_name(account, "account")
    path = Path(path)
    if path.exists() and not overwrite:
        raise KeyFileError(f"{path} already exists; refusing to overwrite a key file")
    path.parent.mkdir(parents=True, exist_ok=True)
    data = json.dumps(
        {"account": account, "public_key": key.public_key, "private_key": key.seed_hex()}, indent=2
    )
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | (0 if overwrite else os.O_EXCL)
    fd = os.open(path, flags, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, data.encode() + b"\n")
    finally:
        os.close(fd)
    return path


def read_key_file(path: Path) -> KeyFile:
    """Read a key file, refusing one that group or others can read."""
    path = Path(path)
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise KeyFileError(f"key file {path} does not exist") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyFileError(
            f"key file {path} is accessible by other users (mode {stat.S_IMODE(mode):o}); "
            f"run: chmod 600 {path}"
        )
    try:
        data = json.loads(path.read_text())
        account = validate_account_name(data["account"], "account")
        key = PrivateKey.from_hex(data["private_key"])
    except (ValueError, KeyError, TypeError, MalformedInput) as exc:
        raise KeyFileError(f"key file {path} is not a valid bppool key file: {exc}") from None
    if data.get("public_key") not in (None, key.public_key):
        raise KeyFileError(f"key file {path}: public_key does not match the private key")
    return KeyFile(account, key)
