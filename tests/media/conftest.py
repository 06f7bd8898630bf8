"""The media function wired to moto (table, bucket, secret) and the sandbox platform."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest

from messaggio_core.dal.media import MediaStore
from messaggio_media import handler
from messaggio_media.settings import settings
from messaggio_sandbox import SandboxPlatform
from tests.conftest import MEDIA_BUCKET, TABLE, load_event


@dataclass
class FakeContext:
    function_name: str = "MediaFunction"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:eu-west-1:123456789012:function:MediaFunction"
    aws_request_id: str = "req-m"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


@dataclass
class Media:
    sandbox: SandboxPlatform
    bucket: str = MEDIA_BUCKET
    store: MediaStore = field(default_factory=lambda: MediaStore(TABLE, 90))

    def put(self, key: str, content: bytes) -> None:
        boto3.client("s3").put_object(Bucket=self.bucket, Key=key, Body=content)

    def invoke(self, event: dict[str, Any]) -> list[str]:
        answer = handler.lambda_handler(event, FakeContext())
        return [f["itemIdentifier"] for f in answer["batchItemFailures"]]

    def event(self, name: str) -> dict[str, Any]:
        return copy.deepcopy(load_event(name))

    def image_id_of(self, key: str) -> str | None:
        pointer = self.store.pointer(self.bucket, key)
        if pointer is None or pointer.md5 is None:
            return None
        cached = self.store.image(pointer.md5)
        return cached.image_id if cached else None


@pytest.fixture
def media(
    table: str,
    secret: str,
    media_bucket: str,
    sandbox: SandboxPlatform,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Media]:
    monkeypatch.setenv("MESSAGGIO_MEDIA_URL", sandbox.media_url)
    monkeypatch.setenv("PLATFORM_READ_TIMEOUT", "1")
    settings.cache_clear()
    handler.image_cache.cache_clear()
    yield Media(sandbox)
    handler.image_cache.cache_clear()
    settings.cache_clear()
