"""Key files: mode 0600, never overwritten, refused when others can read them."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from service_shell.keys import KeyFileError, generate_private_key, read_key_file, write_key_file


def test_write_and_read_back(tmp_path: Path) -> None:
    key = generate_private_key()
    path = write_key_file(tmp_path / "alice.json", "alice", key)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    loaded = read_key_file(path)
    assert loaded.account == "alice" and loaded.public_key == key.public_key


def test_generated_keys_differ() -> None:
    assert generate_private_key().public_key != generate_private_key().public_key


def test_refuses_to_overwrite(tmp_path: Path) -> None:
    path = write_key_file(tmp_path / "k.json", "alice", generate_private_key())
    before = path.read_text()
    with pytest.raises(KeyFileError, match="refusing to overwrite"):
        write_key_file(path, "alice", generate_private_key())
    assert path.read_text() == before


def test_refuses_readable_by_others(tmp_path: Path) -> None:
    path = write_key_file(tmp_path / "k.json", "alice", generate_private_key())
    os.chmod(path, 0o644)
    with pytest.raises(KeyFileError, match="chmod 600"):
        read_key_file(path)


@pytest.mark.parametrize("content", ["not json", '{"account": "Bad Name", "private_key": "00"}', "{}"])
def test_refuses_invalid_files(tmp_path: Path, content: str) -> None:
    path = tmp_path / "k.json"
    path.write_text(content)
    os.chmod(path, 0o600)
    with pytest.raises(KeyFileError, match="not a valid"):
        read_key_file(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="does not exist"):
        read_key_file(tmp_path / "nope.json")
