"""pytest fixture ``sandbox``: a started SandboxPlatform per test, stopped afterwards.

Enable with ``pytest_plugins = ["messaggio_sandbox.pytest_plugin"]`` in the root conftest.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .server import SandboxPlatform

SANDBOX_LOGIN = "acme"
SANDBOX_SECRET = "s3cr3t-Key"  # noqa: S105 (the sandbox's published test account)


@pytest.fixture
def sandbox() -> Iterator[SandboxPlatform]:
    """A fresh platform on a free loopback port with the account acme / s3cr3t-Key."""
    platform = SandboxPlatform(accounts={SANDBOX_LOGIN: SANDBOX_SECRET})
    platform.start()
    try:
        yield platform
    finally:
        platform.stop()
