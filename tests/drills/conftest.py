"""Drills print their counts to the terminal (not into pytest's capture)."""

from __future__ import annotations

from collections.abc import Callable

import pytest


@pytest.fixture
def say(capsys: pytest.CaptureFixture[str]) -> Callable[[str], None]:
    def out(line: str) -> None:
        with capsys.disabled():
            print(f"\n  {line}", flush=True)

    return out
