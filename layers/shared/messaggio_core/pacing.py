"""Keeps sends within the account's rate (section D [prev]: 10 a second by default).

[ours] The limit counts recipients a second. Each invocation gets a share of it (the limit
divided by the event source's maximum concurrency), so concurrent invocations together stay
under it without talking to each other. Within its share an invocation never lets more than
`share` recipients start in any window of `1 s + guard`; the guard absorbs the jitter between
leaving here and arriving at the platform. A second, shorter window spreads a second's share
over it in a few bursts rather than one, so many requests do not arrive at once (a burst
arrives with more jitter than the guard absorbs).
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Final

GUARD_SECONDS: Final = 0.025
BURST_WINDOW: Final = 0.25  # seconds
BURST_SHARE: Final = 0.5  # of a second's share, at most, in any BURST_WINDOW


class _Window:
    """Never more than `capacity` in any `length` seconds (a sliding window: exact, unlike a
    token bucket, which allows twice the rate across a window boundary)."""

    def __init__(self, capacity: float, length: float) -> None:
        self.capacity = capacity
        self.length = length
        self.starts: deque[tuple[float, int]] = deque()  # (time, weight)
        self.used = 0

    def delay(self, weight: int, now: float) -> float:
        while self.starts and self.starts[0][0] <= now - self.length:
            self.used -= self.starts.popleft()[1]
        if self.used + weight <= self.capacity or not self.starts:
            # A message larger than the whole capacity goes alone, into an empty window.
            return 0.0
        freed, at = self.used, 0.0
        for started, w in self.starts:
            freed -= w
            at = started
            if freed + weight <= self.capacity:
                break
        return max(0.0, at + self.length - now)

    def take(self, weight: int, now: float) -> None:
        self.starts.append((now, weight))
        self.used += weight


class Pacer:
    def __init__(
        self,
        per_second: float,
        window: float = 1.0 + GUARD_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        burst_window: float | None = BURST_WINDOW,
        start_full: bool = False,
    ) -> None:
        """`start_full`: begin as if a whole share had just been used. A new container cannot
        know what the container it replaces sent in its last second; starting full costs it
        one window, once, and keeps "never above the limit" true across the replacement."""
        if per_second <= 0:
            raise ValueError("the rate must be positive")
        self.capacity = per_second
        self._windows = [_Window(per_second, window)]
        if burst_window is not None and burst_window < window:
            burst = max(1.0, math.ceil(per_second * BURST_SHARE))
            self._windows.append(_Window(burst, burst_window))
        self._clock = clock
        if start_full:
            now = clock()
            for w in self._windows:
                w.take(int(w.capacity), now)
        # A thread lock, not an asyncio one: the pacer outlives one invocation's event loop
        # (the next invocation in the same container must see the same window).
        self._lock = threading.Lock()

    def try_take(self, weight: int) -> float:
        """Takes `weight` now and returns 0, or returns the seconds to wait first."""
        with self._lock:
            now = self._clock()
            wait = max(w.delay(weight, now) for w in self._windows)
            if wait == 0:
                for w in self._windows:
                    w.take(weight, now)
            return wait

    def take_before(self, weight: int, give_up_at: float) -> bool:
        """Blocks until `weight` recipients may start, and takes them; False (nothing taken)
        when that would be after `give_up_at` (time.monotonic). Called by the thread that
        makes the request, right before it: nothing runs between the slot and the call."""
        while (wait := self.try_take(weight)) > 0:
            if time.monotonic() + wait > give_up_at:
                return False
            time.sleep(wait)
        return True
