"""An in-process publish/subscribe hub for server-sent event streams.

Each subscriber gets a bounded queue; a subscriber too slow to keep up is dropped (its
stream ends and the client reconnects) rather than slowing the publisher down.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

_CLOSE: Any = object()


class Broadcaster:
    """Fan-out of ``(event, data)`` pairs to every current subscriber."""

    def __init__(self, queue_size: int = 256) -> None:
        self.queue_size = queue_size
        self._subscribers: set[asyncio.Queue[Any]] = set()

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    def publish(self, event: str, data: dict[str, Any]) -> None:
        """Send to every subscriber now (never blocks)."""
        for queue in list(self._subscribers):
            try:
                queue.put_nowait((event, data))
            except asyncio.QueueFull:
                # Too slow: drop what it has not read and end its stream.
                self._subscribers.discard(queue)
                while not queue.empty():
                    queue.get_nowait()
                queue.put_nowait(_CLOSE)

    def close(self) -> None:
        """End every stream (on shutdown)."""
        for queue in list(self._subscribers):
            self._subscribers.discard(queue)
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(_CLOSE)

    def subscribe(self) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        """Events from now on, until closed or dropped: the subscription starts with this
        call, not with the first read (so nothing published in between is missed)."""
        queue: asyncio.Queue[Any] = asyncio.Queue(self.queue_size)
        self._subscribers.add(queue)
        return self._drain(queue)

    async def _drain(self, queue: asyncio.Queue[Any]) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        try:
            while True:
                item = await queue.get()
                if item is _CLOSE:
                    return
                yield item
        finally:
            self._subscribers.discard(queue)
