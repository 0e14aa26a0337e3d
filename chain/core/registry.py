"""The open registry of action processors and end-of-block hooks.

Core actions register here from :mod:`chain.core.actions`; later modules (executions) add
their own without touching the transition function.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from .containers import Action, BlockHeader, Transaction
from .state import State


@dataclass(slots=True)
class BlockContext:
    """What a processor knows about the block it runs in, plus what the block collects."""

    header: BlockHeader
    fees: int = 0
    slot: int = field(init=False)
    height: int = field(init=False)
    timestamp: int = field(init=False)

    def __post_init__(self) -> None:
        # Copied once per block: processors read them for every transaction.
        self.slot, self.height, self.timestamp = self.header.slot, self.header.height, self.header.timestamp


Processor = Callable[[State, Transaction, Any, BlockContext], None]
EndBlockHook = Callable[[State, BlockContext], None]

PROCESSORS: dict[str, Processor] = {}
END_BLOCK_HOOKS: list[EndBlockHook] = []

F = TypeVar("F", bound=Processor)


def register_processor(action_type: type[Action]) -> Callable[[F], F]:
    """Decorator: ``fn`` processes transactions whose action is ``action_type``."""

    def decorate(fn: F) -> F:
        if action_type.TYPE in PROCESSORS:
            raise ValueError(f"processor for {action_type.TYPE} registered twice")
        PROCESSORS[action_type.TYPE] = fn
        return fn

    return decorate


def register_end_block_hook(fn: EndBlockHook) -> EndBlockHook:
    """Decorator: run ``fn`` after a block's transactions (timeouts, settlements)."""
    END_BLOCK_HOOKS.append(fn)
    return fn
