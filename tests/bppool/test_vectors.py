"""The committed conformance vectors (``docs/spec/vectors``): this implementation computes every
output from its input, generating them again writes the very same bytes, and a vector that
differs is named (so a change to consensus bytes fails loudly, case by case)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bppool import vectors
from bppool.cli import app

COMMITTED = Path(__file__).resolve().parents[2] / "docs" / "spec" / "vectors"
FILES = sorted(COMMITTED.rglob("*.json"))


def test_every_committed_vector_matches_this_implementation() -> None:
    ran, problems = vectors.check(COMMITTED)
    assert problems == []
    assert ran == len(FILES) >= 50
    kinds = {(json.loads(f.read_text())["runner"], json.loads(f.read_text())["handler"]) for f in FILES}
    assert kinds == set(vectors.HANDLERS)  # every handler has vectors


def test_generating_again_writes_the_committed_bytes(tmp_path: Path) -> None:
    vectors.generate(tmp_path)
    made = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*.json"))
    assert made == [p.relative_to(COMMITTED) for p in FILES], (
        "run: ./dev spec vectors --out docs/spec/vectors"
    )
    for rel in made:
        assert (tmp_path / rel).read_bytes() == (COMMITTED / rel).read_bytes(), rel


@pytest.mark.parametrize(
    ("rel", "field"),
    [
        ("messages/transaction/transfer.json", "signature"),
        ("transition/blocks/four_valid_blocks.json", "applied"),
        ("merkle/tx_root/3_transactions.json", "root"),
    ],
)
def test_a_changed_output_is_named(tmp_path: Path, rel: str, field: str) -> None:
    vectors.generate(tmp_path)
    path = tmp_path / rel
    vector = json.loads(path.read_text())
    value = vector["output"][field]
    vector["output"][field] = (
        value[:-1] if isinstance(value, list) else ("0" if value[0] != "0" else "1") + value[1:]
    )
    path.write_text(json.dumps(vector))
    ran, problems = vectors.check(tmp_path)
    assert problems == [f"{rel}: output differs in {field}"]
    result = CliRunner().invoke(app, ["spec", "check", str(tmp_path)])
    assert result.exit_code == 1 and rel in result.output and f"1 of {ran} vectors differ" in result.output


def test_the_cli_writes_and_counts(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["spec", "vectors", "--out", str(tmp_path / "v")])
    assert result.exit_code == 0, result.output
    assert "transition/blocks" in result.output and str(len(FILES)) in result.output
    ok = CliRunner().invoke(app, ["spec", "check", str(tmp_path / "v")])
    assert ok.exit_code == 0 and f"{len(FILES)} vectors: all match" in ok.output
    (tmp_path / "file").write_text("x")
    bad = CliRunner().invoke(app, ["spec", "vectors", "--out", str(tmp_path / "file")])
    assert bad.exit_code == 1 and "not a folder" in bad.output and "Traceback" not in bad.output
