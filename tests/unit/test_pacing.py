"""The pacer never lets more than its share start in any window, and keeps the pipe full."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from messaggio_core.pacing import Pacer


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


# No deadline: a loaded machine is slow, not wrong (timings belong in bench/, not in tests).
@settings(max_examples=200, deadline=None)
@given(
    rate=st.integers(1, 20),
    weights=st.lists(st.integers(1, 5), min_size=1, max_size=60),
)
def test_no_window_ever_holds_more_than_the_share(rate: int, weights: list[int]) -> None:
    clock = FakeClock()
    pacer = Pacer(rate, window=1.0, clock=clock)
    starts: list[tuple[float, int]] = []
    for w in weights:
        for _ in range(100):  # a pacer that never grants fails here instead of hanging
            if (wait := pacer.try_take(w)) == 0:
                break
            clock.now += wait
        else:
            pytest.fail("no slot after 100 waits")
        starts.append((clock.now, w))
    for t, _ in starts:
        in_window = sum(w for s, w in starts if t <= s < t + 1.0)
        # a message larger than the share goes alone into an empty window
        assert in_window <= max(rate, *weights)


def test_a_full_share_starts_at_once_then_waits_a_window() -> None:
    clock = FakeClock()
    pacer = Pacer(5, window=1.0, clock=clock, burst_window=None)
    assert [pacer.try_take(1) for _ in range(5)] == [0.0] * 5
    assert pacer.try_take(1) == pytest.approx(1.0)
    clock.now = 1.0
    assert pacer.try_take(1) == 0.0


def test_a_seconds_share_is_spread_over_short_bursts() -> None:
    """At most half a second's share in any quarter second: 10 a second starts 5, then the
    next 5 a quarter second later, never 10 at once."""
    clock = FakeClock()
    pacer = Pacer(10, window=1.0, clock=clock)
    assert [pacer.try_take(1) for _ in range(5)] == [0.0] * 5
    assert pacer.try_take(1) == pytest.approx(0.25)
    clock.now = 0.25
    assert [pacer.try_take(1) for _ in range(5)] == [0.0] * 5
    assert pacer.try_take(1) == pytest.approx(0.75)  # now the one-second window is full


def test_take_before_waits_for_a_slot_or_gives_up_untaken() -> None:
    pacer = Pacer(2, window=0.3, burst_window=None)
    assert pacer.take_before(2, time.monotonic() + 1)
    started = time.monotonic()
    assert pacer.take_before(1, time.monotonic() + 1)  # waits for the window to pass
    assert time.monotonic() - started >= 0.25
    assert not pacer.take_before(2, time.monotonic() + 0.05)  # no slot that soon
    assert pacer.try_take(1) == 0.0  # and the refused request took nothing


def test_a_new_container_starts_with_a_full_window() -> None:
    """It cannot know what the container it replaces sent in its last second."""
    clock = FakeClock()
    pacer = Pacer(5, window=1.0, clock=clock, start_full=True)
    assert pacer.try_take(1) == pytest.approx(1.0)
    clock.now = 1.0
    assert pacer.try_take(1) == 0.0
