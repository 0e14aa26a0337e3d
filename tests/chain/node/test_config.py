"""The node's settings: where its data lives by default."""

from __future__ import annotations

from pathlib import Path

from chain.node.config import NodeSettings
from tests.helpers.node import make_network


def test_the_block_store_is_chain_db_in_the_data_dir_by_default(tmp_path: Path) -> None:
    """Existing data directories keep being found: the file name is part of the on-disk layout."""
    network = make_network(tmp_path / "net")
    settings = NodeSettings(
        genesis=network.genesis_path, key_file=network.key_path("alpha"), data_dir=tmp_path / "d"
    )
    assert settings.store_url.endswith(str(tmp_path / "d" / "chain.db"))
    other = NodeSettings(
        genesis=network.genesis_path,
        key_file=network.key_path("alpha"),
        data_dir=tmp_path / "d",
        database_url="postgresql+psycopg://u@127.0.0.1/x",
    )
    assert other.store_url == "postgresql+psycopg://u@127.0.0.1/x"
