"""Keeps sends within the account's rate (section D [prev]: 10 a second by default).

[ours] The limit counts recipients a second. Each invocation gets a share of it (the limit
divided by the event source's maximum concurrency), so concurrent invocations together stay
under it without talking to each other. Within its share an invocation never lets more than
`share` recipients start in any window of `1 s + guard`; the guard absorbs the jitter between
leaving here and arriving at the platform.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Final

GUARD_SECONDS: Final = 0.025


class Pacer:
    """A sliding-window limiter: exact, unlike a token bucket, which allows bursts of twice
    the rate across a window boundary."""

    def __init__(
        self,
        per_second: float,
        window: float = 1.0 + GUARD_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if per_second <= 0:
            raise ValueError("the rate must be positive")
        self.capacity = per_second
        self.window = window
        self._clock = clock
        self._starts: deque[tuple[float, int]] = deque()  # (time, weight)
        self._used = 0
        # A thread lock, not an asyncio one: the pacer outlives one invocation's event loop
        # (the next invocation in the same container must see the same window).
        self._lock = threading.Lock()

    def try_take(self, weight: int) -> float:
        """Takes `weight` now and returns 0, or returns the seconds to wait first."""
        with self._lock:
            wait = self._delay(weight)
            if wait == 0:
                self._starts.append((self._clock(), weight))
                self._used += weight
            return wait

    def _delay(self, weight: int) -> float:
        now = self._clock()
        while self._starts and self._starts[0][0] <= now - self.window:
            self._used -= self._starts.popleft()[1]
        if self._used + weight <= self.capacity or not self._starts:
            # A message larger than the whole share goes alone, into an empty window.
            return 0.0
        freed, at = self._used, 0.0
        for started, w in self._starts:
            freed -= w
            at = started
            if freed + weight <= self.capacity:
                break
        return max(0.0, at + self.window - now)

    async def acquire(self, weight: int) -> None:
        """Waits (without blocking the event loop) until `weight` recipients may start."""
        while (wait := self.try_take(weight)) > 0:
            await asyncio.sleep(wait)
