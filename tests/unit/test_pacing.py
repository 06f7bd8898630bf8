"""The pacer never lets more than its share start in any window, and keeps the pipe full."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from messaggio_core.pacing import Pacer


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@settings(max_examples=200)
@given(
    rate=st.integers(1, 20),
    weights=st.lists(st.integers(1, 5), min_size=1, max_size=60),
)
def test_no_window_ever_holds_more_than_the_share(rate: int, weights: list[int]) -> None:
    clock = FakeClock()
    pacer = Pacer(rate, window=1.0, clock=clock)
    starts: list[tuple[float, int]] = []
    for w in weights:
        while (wait := pacer.try_take(w)) > 0:
            clock.now += wait
        starts.append((clock.now, w))
    for t, _ in starts:
        in_window = sum(w for s, w in starts if t <= s < t + 1.0)
        # a message larger than the share goes alone into an empty window
        assert in_window <= max(rate, *weights)


def test_a_full_share_starts_at_once_then_waits_a_window() -> None:
    clock = FakeClock()
    pacer = Pacer(5, window=1.0, clock=clock)
    assert [pacer.try_take(1) for _ in range(5)] == [0.0] * 5
    assert pacer.try_take(1) == pytest.approx(1.0)
    clock.now = 1.0
    assert pacer.try_take(1) == 0.0


def test_acquire_waits_without_blocking_the_loop() -> None:
    pacer = Pacer(100, window=0.2)

    async def run() -> int:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.01)

        task = asyncio.create_task(ticker())
        for _ in range(150):
            await pacer.acquire(1)
        task.cancel()
        return ticks

    assert asyncio.run(run()) >= 5
