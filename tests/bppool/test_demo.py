"""The chain demo: an offline producer is jailed and dropped from the schedule."""

from __future__ import annotations

import io

from rich.console import Console

from chain.demo import run_chain_demo


def test_demo_jails_the_offline_producer() -> None:
    out = io.StringIO()
    result = run_chain_demo(slots=150, offline="gamma", offline_after=30, console=Console(file=out))
    assert result.jailed == ["gamma"]
    assert result.schedule == ("alpha", "beta")
    assert result.blocks + result.missed == 150
    assert "missed slots" in out.getvalue()
