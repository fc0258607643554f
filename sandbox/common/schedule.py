"""When the next planned step of each record is due: a heap of (time, key)."""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterator


class Schedule:
    """Keys (transfer references) with the time their next planned step is due.

    A key may have stale entries (its plan was cleared or moved); the store skips a key
    whose plan has nothing due.
    """

    def __init__(self) -> None:
        """Empty."""
        self._heap: list[tuple[float, int, str]] = []
        self._sequence = itertools.count()

    def push(self, key: str, at: float) -> None:
        """Note that ``key`` has a step due at ``at``."""
        heapq.heappush(self._heap, (at, next(self._sequence), key))

    def pop_due(self, now: float) -> Iterator[str]:
        """Take out every key due at ``now``, earliest first (pushes during it are seen)."""
        while self._heap and self._heap[0][0] <= now:
            yield heapq.heappop(self._heap)[2]

    def clear(self) -> None:
        """Forget everything."""
        self._heap.clear()
