"""Two input rules the spec's review found missing: a runner's result with an empty ``error``
(it would read as no error, complete the execution and pay the runner, and the process worker
would then find no outputs), and a runner slash above the whole stake."""

from __future__ import annotations

import pytest

from chain.core import parse_action
from chain.core.errors import MalformedInput


def test_an_empty_error_message_is_refused_naming_the_field() -> None:
    with pytest.raises(MalformedInput, match=r"action\.error: an empty error message"):
        parse_action({"type": "submit_result", "execution": "ab" * 32, "error": ""})


def test_a_non_empty_error_and_outputs_are_read() -> None:
    failed = parse_action({"type": "submit_result", "execution": "ab" * 32, "error": "timeout"})
    assert failed.error == "timeout"  # type: ignore[attr-defined]
    done = parse_action({"type": "submit_result", "execution": "ab" * 32, "outputs": {"x": 1}})
    assert done.outputs == {"x": 1}  # type: ignore[attr-defined]


def test_a_runner_slash_above_the_whole_stake_is_refused_in_the_genesis() -> None:
    from chain.core.errors import InvalidGenesis
    from chain.core.params import ChainParams

    with pytest.raises(InvalidGenesis, match=r"params\.runner_slash_bps: must be at most 10000"):
        ChainParams(runner_slash_bps=10_001)
