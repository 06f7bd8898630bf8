"""The sender wired to moto and the sandbox platform over loopback."""

from __future__ import annotations

import copy
import io
import json
import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from messaggio_core.dal.messages import MessageStore
from messaggio_sandbox import SandboxPlatform
from messaggio_sender import handler
from messaggio_sender.settings import settings
from tests.conftest import TABLE, load_event

QUEUE = "messaggio-connector-send"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


@dataclass
class FakeContext:
    function_name: str = "SenderFunction"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:eu-west-1:123456789012:function:SenderFunction"
    aws_request_id: str = "req-1"
    remaining_ms: int = 30_000

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


@dataclass
class Sender:
    sandbox: SandboxPlatform
    queue_url: str
    queue_arn: str

    def invoke(self, event: dict[str, Any], remaining_ms: int = 30_000) -> list[str]:
        """Runs the real handler; returns the messageIds reported as batch item failures."""
        answer = handler.lambda_handler(event, FakeContext(remaining_ms=remaining_ms))
        return [f["itemIdentifier"] for f in answer["batchItemFailures"]]

    def store(self) -> MessageStore:
        return MessageStore(TABLE, 90)

    def state(self, ptid: str) -> dict[str, Any]:
        found = self.store().lifecycle(ptid)
        assert found is not None, f"no record for {ptid}"
        from messaggio_core.records import status_view

        return status_view(*found)

    def image_id(self) -> str:
        """A real image_id issued by the sandbox (it refuses ids it never issued)."""
        import requests

        from messaggio_core.protocol.signature import file_md5, media_signature

        sign = media_signature("acme", file_md5([PNG]), "s3cr3t-Key")
        answer = requests.post(
            self.sandbox.media_url,
            data={"login": "acme", "sign": sign},
            files={"image": ("a.png", PNG, "image/png")},
            timeout=5,
        ).json()
        image_id: str = answer["image_id"]
        return image_id

    def event(self, name: str, image_id: str | None = None) -> dict[str, Any]:
        """An event file, with its ARN pointing at the emulated queue."""
        event = copy.deepcopy(load_event(name))
        for record in event["Records"]:
            record["eventSourceARN"] = self.queue_arn
            if image_id is not None:
                record["body"] = record["body"].replace("SANDBOXIMAGEID", image_id)
        return event

    def batch(self, bodies: list[Any]) -> dict[str, Any]:
        """An SQS event made by really enqueuing and receiving the bodies (real receipt
        handles, so visibility changes can be observed)."""
        sqs = boto3.client("sqs")
        for body in bodies:
            text = body if isinstance(body, str) else json.dumps(body, ensure_ascii=False)
            sqs.send_message(QueueUrl=self.queue_url, MessageBody=text)
        records: list[dict[str, Any]] = []
        while len(records) < len(bodies):
            got = sqs.receive_message(
                QueueUrl=self.queue_url, MaxNumberOfMessages=10, AttributeNames=["All"]
            ).get("Messages", [])
            assert got, "the queue ran dry"
            for m in got:
                records.append(
                    {
                        "messageId": m["MessageId"],
                        "receiptHandle": m["ReceiptHandle"],
                        "body": m["Body"],
                        "attributes": m.get("Attributes", {}),
                        "messageAttributes": {},
                        "md5OfBody": m["MD5OfBody"],
                        "eventSource": "aws:sqs",
                        "eventSourceARN": self.queue_arn,
                        "awsRegion": "eu-west-1",
                    }
                )
        return {"Records": records}


def body(ptid: str | None = None, **changes: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "sending_method": "viber",
        "from": "MyShop",
        "phone": ["380501234567"],
        "txt": "Hello from the test",
        "p_transaction_id": ptid or f"t-{uuid.uuid4().hex[:12]}",
    }
    out.update(changes)
    return {k: v for k, v in out.items() if v is not None}


@pytest.fixture
def log_output() -> Iterator[io.StringIO]:
    """Everything the sender's Powertools logger writes (it holds its own stream)."""
    buffer = io.StringIO()
    log_handler = handler.logger.registered_handler
    assert isinstance(log_handler, logging.StreamHandler)
    previous = log_handler.setStream(buffer)
    yield buffer
    log_handler.setStream(previous)


@pytest.fixture
def sender(
    table: str, secret: str, sandbox: SandboxPlatform, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Sender]:
    sqs = boto3.client("sqs")
    url = sqs.create_queue(QueueName=QUEUE)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    for name, value in {
        "MESSAGGIO_SEND_URL": sandbox.send_url,
        "MESSAGGIO_MEDIA_URL": sandbox.media_url,
        "MESSAGGIO_RATE_LIMIT": "1000",
        "SENDER_MAX_CONCURRENCY": "1",
        "PLATFORM_CONNECT_TIMEOUT": "0.5",
        "PLATFORM_READ_TIMEOUT": "1.0",
        "ACCOUNT_BACKOFF_SECONDS": "300",
    }.items():
        monkeypatch.setenv(name, value)
    settings.cache_clear()
    handler.deps.cache_clear()
    yield Sender(sandbox, url, arn)
    handler.deps.cache_clear()
    settings.cache_clear()
