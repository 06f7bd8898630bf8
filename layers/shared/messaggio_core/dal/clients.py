"""AWS clients, one each per container, made on first use (not at import: cold start)."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any, Final, cast

import boto3
from botocore.config import Config

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_sqs import SQSClient

# botocore's standard retry mode: exponential backoff with jitter on throttling and 5xx.
AWS_CONFIG: Final = Config(
    retries={"mode": "standard", "max_attempts": 3},
    connect_timeout=2,
    read_timeout=5,
    tcp_keepalive=True,
)


@cache
def client(service: str) -> Any:
    """One client per service and container, made on first use (not at import: cold start)."""
    return boto3.client(service, config=AWS_CONFIG)  # type: ignore[call-overload]


def dynamodb() -> DynamoDBClient:
    return cast("DynamoDBClient", client("dynamodb"))


def sqs() -> SQSClient:
    return cast("SQSClient", client("sqs"))


def s3() -> S3Client:
    return cast("S3Client", client("s3"))


def events() -> EventBridgeClient:
    return cast("EventBridgeClient", client("events"))


def secretsmanager() -> SecretsManagerClient:
    """From the default session, as the others: a session of its own (what Powertools'
    SecretsProvider makes when given no client) loads botocore's endpoint and partition data
    again, about 100 ms of a cold start."""
    return cast("SecretsManagerClient", client("secretsmanager"))


def reset_clients() -> None:
    """Forget the clients (tests start a new emulated AWS for each test)."""
    client.cache_clear()
    queue_url.cache_clear()


def change_visibility(queue_arn: str, receipt_handle: str, seconds: int) -> None:
    """Keeps a message hidden for `seconds` (back-off without a tight retry loop)."""
    sqs().change_message_visibility(
        QueueUrl=queue_url(queue_arn), ReceiptHandle=receipt_handle, VisibilityTimeout=seconds
    )


@cache
def queue_url(queue_arn: str) -> str:
    _, _, _, _, account, name = queue_arn.split(":", 5)
    return sqs().get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"]
