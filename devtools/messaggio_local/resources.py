"""The template's resources made in whatever AWS boto3 reaches (moto in-process, or moto_server
through AWS_ENDPOINT_URL), from template.yaml's own definitions: the one place where the local
stack, the tests' fixtures and the benchmarks make their tables, queues, buckets, the secret
and a queue capturing the connector's events.

Each takes the clients to use. Where a resource names another (a queue's dead-letter queue, a
bucket's notification queue), the caller resolves the template's intrinsics first (the local
stack does, with messaggio_local.resolve) and passes the result as `resolved`; without it the
reference is left out, so a test gets the resource alone.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from messaggio_core.protocol.surface import EVENT_SOURCE
from messaggio_local.template import REGION, resource, table_definition

# The sandbox platform's published test account, and the callback token the shipped events
# (events/callback_*.json) carry: a local run's secret. A deployment's are in its own secret.
LOGIN = "acme"
SECRET_KEY = "s3cr3t-Key"  # noqa: S105
CALLBACK_TOKEN = "cb-token-0123456789abcdef"  # noqa: S105


def create_table(client: Any, logical_id: str, name: str) -> None:
    """A DynamoDB table of the template (keys, billing, stream, TTL), named `name`."""
    args, ttl = table_definition(logical_id, name)
    client.create_table(**args)
    if ttl:
        client.update_time_to_live(
            TableName=name,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["AttributeName"]},
        )


def create_queue(
    client: Any,
    logical_id: str,
    name: str,
    resolved: dict[str, Any] | None = None,
    *,
    visibility: int | None = None,
) -> str:
    """An SQS queue of the template, made with its attributes; its URL. `visibility`
    replaces the visibility timeout (the local stack shortens it)."""
    props = resolved if resolved is not None else resource(logical_id)["Properties"]
    attributes: dict[str, str] = {}
    for key in ("VisibilityTimeout", "MessageRetentionPeriod", "DelaySeconds"):
        if isinstance(props.get(key), int | str):
            attributes[key] = str(props[key])
    if visibility is not None:
        attributes["VisibilityTimeout"] = str(visibility)
    redrive = props.get("RedrivePolicy")
    if resolved is not None and redrive:
        attributes["RedrivePolicy"] = json.dumps(
            {
                "deadLetterTargetArn": redrive["deadLetterTargetArn"],
                "maxReceiveCount": str(redrive["maxReceiveCount"]),
            }
        )
    url: str = client.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    return url


def queue_arn(client: Any, url: str) -> str:
    arn: str = client.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    return arn


def _same(value: Any) -> Any:
    return value


def _encryption(value: Any) -> Any:
    rules = value["ServerSideEncryptionConfiguration"]
    return {
        "Rules": [
            {
                "ApplyServerSideEncryptionByDefault": rule["ServerSideEncryptionByDefault"],
                **{k: v for k, v in rule.items() if k != "ServerSideEncryptionByDefault"},
            }
            for rule in rules
        ]
    }


def _lifecycle(value: Any) -> Any:
    return {
        "Rules": [
            {
                "ID": rule["Id"],
                "Filter": {"Prefix": rule.get("Prefix", "")},
                **{k: v for k, v in rule.items() if k not in ("Id", "Prefix")},
            }
            for rule in value["Rules"]
        ]
    }


# A bucket's property in the template -> the S3 call setting it, that call's argument, and
# the property's value as that argument (CloudFormation's shape and the API's differ).
_BUCKET_SETTINGS: dict[str, tuple[str, str, Callable[[Any], Any]]] = {
    "BucketEncryption": ("put_bucket_encryption", "ServerSideEncryptionConfiguration", _encryption),
    "PublicAccessBlockConfiguration": (
        "put_public_access_block",
        "PublicAccessBlockConfiguration",
        _same,
    ),
    "OwnershipControls": ("put_bucket_ownership_controls", "OwnershipControls", _same),
    "VersioningConfiguration": ("put_bucket_versioning", "VersioningConfiguration", _same),
    "LifecycleConfiguration": (
        "put_bucket_lifecycle_configuration",
        "LifecycleConfiguration",
        _lifecycle,
    ),
}


def create_bucket(
    client: Any, logical_id: str, name: str, resolved: dict[str, Any] | None = None
) -> None:
    """An S3 bucket of the template with its settings: encryption, public access block,
    ownership, versioning, lifecycle; and, with `resolved`, its notifications to queues."""
    props = resolved if resolved is not None else resource(logical_id)["Properties"]
    client.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
    for prop, (call, argument, convert) in _BUCKET_SETTINGS.items():
        if prop in props:
            getattr(client, call)(Bucket=name, **{argument: convert(props[prop])})
    queues = props.get("NotificationConfiguration", {}).get("QueueConfigurations", [])
    if resolved is not None and queues:
        client.put_bucket_notification_configuration(
            Bucket=name,
            NotificationConfiguration={
                "QueueConfigurations": [
                    {"QueueArn": q["Queue"], "Events": [q["Event"]]} for q in queues
                ]
            },
        )


def create_secret(client: Any, name: str, callback_token: str = CALLBACK_TOKEN) -> None:
    """The connector's secret (login, secret key, callback token): the sandbox's test account."""
    client.create_secret(
        Name=name,
        SecretString=json.dumps(
            {"login": LOGIN, "secret_key": SECRET_KEY, "callback_token": callback_token}
        ),
    )


def capture_events(sqs: Any, events: Any, queue: str, rule: str, bus: str = "default") -> str:
    """A queue, and a rule on `bus` (made if it is not the default one) delivering every
    event the connector publishes to it, to read them back; the queue's URL. Local only: a
    deployment's rules are its consumers'."""
    if bus != "default":
        events.create_event_bus(Name=bus)
    url: str = sqs.create_queue(QueueName=queue)["QueueUrl"]
    events.put_rule(
        Name=rule,
        EventBusName=bus,
        EventPattern=json.dumps({"source": [EVENT_SOURCE]}),
        State="ENABLED",
    )
    events.put_targets(
        Rule=rule, EventBusName=bus, Targets=[{"Id": queue, "Arn": queue_arn(sqs, url)}]
    )
    return url
