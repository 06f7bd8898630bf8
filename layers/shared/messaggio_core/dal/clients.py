"""AWS clients, one each per container, made on first use (not at import: cold start)."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Final

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
def dynamodb() -> DynamoDBClient:
    """One client per container, made on first use (not at import: cold start)."""
    return boto3.client("dynamodb", config=AWS_CONFIG)


@cache
def sqs() -> SQSClient:
    return boto3.client("sqs", config=AWS_CONFIG)


@cache
def s3() -> S3Client:
    return boto3.client("s3", config=AWS_CONFIG)


@cache
def events() -> EventBridgeClient:
    return boto3.client("events", config=AWS_CONFIG)


@cache
def secretsmanager() -> SecretsManagerClient:
    """From the default session, as the others: a session of its own (what Powertools'
    SecretsProvider makes when given no client) loads botocore's endpoint and partition data
    again, about 100 ms of a cold start."""
    return boto3.client("secretsmanager", config=AWS_CONFIG)


def reset_clients() -> None:
    """Forget the clients (tests start a new emulated AWS for each test)."""
    dynamodb.cache_clear()
    sqs.cache_clear()
    s3.cache_clear()
    events.cache_clear()
    secretsmanager.cache_clear()
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
