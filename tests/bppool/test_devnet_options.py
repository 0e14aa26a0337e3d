"""``bppool devnet`` refuses an external member's name that is not a free account name, before
anything starts (a message, no traceback)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from bppool.cli import app


@pytest.mark.parametrize("name", ["usera", "pool", "member1", "Bad", "way.too.long.name"])
def test_an_external_member_name_that_is_taken_or_invalid_is_refused(name: str) -> None:
    result = CliRunner().invoke(app, ["devnet", "--external-member", name])
    assert result.exit_code == 2, result.output
    assert f"--external-member: {name!r} is not a free account name" in result.output
    assert "Traceback" not in result.output
