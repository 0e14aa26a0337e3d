"""``fail``: the whole message on stderr as given, on one line, whatever the terminal's width."""

from __future__ import annotations

import pytest
import typer

from service_shell import clitools


def test_a_long_message_with_brackets_is_printed_whole(capsys: pytest.CaptureFixture[str]) -> None:
    path = "/tmp/" + "x" * 120 + "/[key].json"
    with pytest.raises(typer.Exit) as exit_info:
        clitools.fail(f"{path} holds a key that is not alice's on this chain")
    assert exit_info.value.exit_code == 1
    assert capsys.readouterr().err == f"error: {path} holds a key that is not alice's on this chain\n"
