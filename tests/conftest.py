"""Shared fixtures: emulated AWS (moto) built from template.yaml, the secret, the sandbox
platform (messaggio_sandbox.pytest_plugin), the repo's paths."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import boto3
import pytest
from moto import mock_aws

from messaggio_core.dal.clients import reset_clients
from messaggio_core.dal.secrets import reset_secrets
from messaggio_local.moto_atomic import make_dynamodb_atomic
from messaggio_local.moto_events import make_eventbridge_fast
from messaggio_local.moto_head import make_head_bodiless
from messaggio_local.resources import create_bucket, create_secret, create_table

pytest_plugins = [
    "messaggio_sandbox.pytest_plugin",
    "tests.fixtures.sender",
    "tests.fixtures.media",
    "tests.fixtures.events",
    "tests.fixtures.api",
]

# Read by Powertools when a handler module is imported (at collection), as in the template.
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "MessaggioConnector")
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "messaggio-connector")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
os.environ.setdefault("AWS_DEFAULT_REGION", "eu-west-1")
make_dynamodb_atomic()
make_eventbridge_fast()
make_head_bodiless()

ROOT = Path(__file__).resolve().parent.parent
EVENTS = ROOT / "events"
VECTORS = Path(__file__).resolve().parent / "vectors" / "signature.json"

REGION: Final = "eu-west-1"
TABLE = "messages-test"
SECRET_ID = "messaggio/connector"


@pytest.fixture(scope="session")
def vectors() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(VECTORS.read_text())
    return data


def load_event(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return data


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A fresh emulated AWS account for one test; the product's cached clients forgotten."""
    for name, value in {
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    reset_clients()
    reset_secrets()
    with mock_aws():
        yield
    reset_clients()
    reset_secrets()


@pytest.fixture
def table(aws: None, monkeypatch: pytest.MonkeyPatch) -> str:
    """The messages table, created from template.yaml's own definition."""
    create_table(boto3.client("dynamodb"), "MessagesTable", TABLE)
    monkeypatch.setenv("MESSAGES_TABLE", TABLE)
    monkeypatch.setenv("RETENTION_DAYS", "90")
    return TABLE


@pytest.fixture
def secret(aws: None, monkeypatch: pytest.MonkeyPatch) -> str:
    create_secret(boto3.client("secretsmanager"), SECRET_ID)
    monkeypatch.setenv("MESSAGGIO_SECRET_ID", SECRET_ID)
    return SECRET_ID


MEDIA_BUCKET = "messaggio-connector-media-123456789012"


@pytest.fixture
def media_bucket(aws: None) -> str:
    """The media bucket, made with template.yaml's settings (its notifications left out)."""
    create_bucket(boto3.client("s3"), "MediaBucket", MEDIA_BUCKET)
    return MEDIA_BUCKET


def png(seed: int = 0, size: int = 1024) -> bytes:
    """A PNG by its magic bytes (what the platform and the sandbox check), unique per seed."""
    head = b"\x89PNG\r\n\x1a\n" + seed.to_bytes(8, "big")
    return head + bytes((seed + i) % 256 for i in range(size - len(head)))
