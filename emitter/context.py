"""What the emitter's parts share: the pool's account, slot timing, the replica of the chain,
the storage, the metrics, the fault points and the supervisor's way to run a task."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Engine

from chain.client.follower import ChainFollower
from emitter.faults import Faults
from emitter.metrics import EmitterMetrics
from emitter.slotrun import Timing
from emitter.storage import StorageState

Spawn = Callable[[Coroutine[Any, Any, Any]], "asyncio.Task[Any]"]
"""Run a one-off task under the supervisor (failures logged and counted)."""


@dataclass(frozen=True)
class Context:
    """The service's shared I/O, built once by the ``Emitter`` and given to each part."""

    pool: str
    timing: Timing
    follower: ChainFollower
    engine: Engine
    storage: StorageState
    metrics: EmitterMetrics
    faults: Faults
    spawn: Spawn
