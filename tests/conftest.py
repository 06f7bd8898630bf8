"""Shared fixtures: emulated AWS (moto), the sandbox platform, the repo's paths."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

# pytest_plugins = ["messaggio_sandbox.pytest_plugin"]

ROOT = Path(__file__).resolve().parent.parent
EVENTS = ROOT / "events"
VECTORS = Path(__file__).resolve().parent / "vectors" / "signature.json"
SHARED_VECTORS = ROOT.parent / "shared" / "test-vectors" / "signature.json"


@pytest.fixture(scope="session")
def vectors() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(VECTORS.read_text())
    return data
