"""The media function when something goes wrong: a missing object is refused (not retried),
an object it may not read is logged and retried, a store refusing a call or a broken secret
logs one ERROR line with the record's id, and a body that is not a notification is refused
once, whatever its shape."""

from __future__ import annotations

import io
import json
from typing import Any

import boto3
import pytest

from messaggio_core.dal import clients
from messaggio_core.dal.secrets import reset_secrets
from messaggio_local.resources import SECRET_KEY
from tests.conftest import SECRET_ID, png
from tests.fixtures.faults import errors, log_lines, refuse
from tests.fixtures.media import Media

KEY = "promo/winter sale.png"  # the key media_new_image.json names


def only_error(log_output: io.StringIO) -> dict[str, Any]:
    (line,) = errors(log_output)
    return line


def test_a_missing_object_is_refused_with_its_reason_and_not_retried(
    media: Media, log_output: io.StringIO
) -> None:
    event = media.event("media_new_image.json")  # nothing was put under its key
    assert media.invoke(event) == []
    (line,) = [line for line in log_lines(log_output) if line["message"] == "image refused"]
    assert line["reason"] == f"no such object s3://{media.bucket}/{KEY}"
    assert errors(log_output) == []
    assert media.sandbox.uploads() == []


def test_an_object_in_a_bucket_that_does_not_exist_is_refused_not_retried(
    media: Media, log_output: io.StringIO
) -> None:
    """GetObject answers NoSuchBucket (with a body, unlike HEAD): no retry can ever read it."""
    event = media.event("media_new_image.json")
    notification = json.loads(event["Records"][0]["body"])
    notification["Records"][0]["s3"]["bucket"]["name"] = "no-such-bucket-anywhere"
    event["Records"][0]["body"] = json.dumps(notification)
    assert media.invoke(event) == []
    (line,) = [line for line in log_lines(log_output) if line["message"] == "image refused"]
    assert line["reason"] == f"no such object s3://no-such-bucket-anywhere/{KEY}"
    assert errors(log_output) == []


@pytest.mark.parametrize(
    ("operation", "code"),
    [("HeadObject", "403"), ("GetObject", "AccessDenied")],
)
def test_an_object_it_may_not_read_is_logged_and_retried(
    media: Media, log_output: io.StringIO, operation: str, code: str
) -> None:
    media.put(KEY, png(31))
    if operation == "HeadObject":
        # HEAD is asked only of an object already seen (a new one is read straight away).
        assert media.invoke(media.event("media_new_image.json")) == []
        log_output.truncate(0)
        log_output.seek(0)
    uploads = len(media.sandbox.uploads())
    refuse(clients.s3(), operation, code, 403, "Access Denied")
    event = media.event("media_new_image.json")
    message_id = event["Records"][0]["messageId"]

    assert media.invoke(event) == [message_id]

    line = only_error(log_output)
    assert line["message"] == "record failed" and line["message_id"] == message_id
    assert line["object"] == f"s3://{media.bucket}/{KEY}"
    assert line["exception_name"] == "StorageError" and "403" in line["exception"]
    assert len(media.sandbox.uploads()) == uploads


def test_a_table_refusing_a_call_logs_one_error_line_and_retries(
    media: Media, log_output: io.StringIO
) -> None:
    media.put(KEY, png(32))
    refuse(clients.dynamodb(), "GetItem", "ProvisionedThroughputExceededException", 400)
    event = media.event("media_new_image.json")
    assert media.invoke(event) == [event["Records"][0]["messageId"]]
    line = only_error(log_output)
    assert line["exception_name"] == "StorageError"
    assert "ProvisionedThroughputExceededException" in line["exception"]


def test_a_broken_secret_says_what_is_wrong_without_its_value(
    media: Media, log_output: io.StringIO
) -> None:
    media.put(KEY, png(33))
    boto3.client("secretsmanager").put_secret_value(
        SecretId=SECRET_ID, SecretString=json.dumps({"login": "acme", "x": SECRET_KEY})
    )
    reset_secrets()
    event = media.event("media_new_image.json")

    assert media.invoke(event) == [event["Records"][0]["messageId"]]

    line = only_error(log_output)
    assert line["exception_name"] == "CredentialsUnavailable"
    assert "field missing: secret_key" in line["exception"]
    assert SECRET_KEY not in log_output.getvalue()


def notification(bucket: Any = "messaggio-connector-media-123456789012", key: Any = KEY) -> str:
    return json.dumps(
        {
            "Records": [
                {
                    "eventName": "ObjectCreated:Put",
                    "s3": {"bucket": {"name": bucket}, "object": {"key": key}},
                }
            ]
        }
    )


@pytest.mark.parametrize(
    "body",
    [
        "[" * 100_000,
        '{"Records": ' + "[" * 5_000 + "]" * 5_000 + "}",
        notification(key=12345),
        notification(key=["a"]),
        notification(bucket={"name": "x"}),
        notification(bucket="Not A Bucket!"),
        notification(key=""),
        notification(key="\ud800.png"),
        notification(key="k" * 1025),
        '{"Records": [["eventName"]]}',
    ],
    ids=[
        "nested-100000",
        "records-nested-5000",
        "key-a-number",
        "key-a-list",
        "bucket-an-object",
        "bucket-impossible",
        "key-empty",
        "key-lone-surrogate",
        "key-too-long",
        "record-a-list",
    ],
)
def test_a_body_that_is_not_a_notification_is_refused_once(
    media: Media, log_output: io.StringIO, body: str
) -> None:
    event = media.event("media_new_image.json")
    event["Records"][0]["body"] = body
    assert media.invoke(event) == []
    (line,) = [line for line in log_lines(log_output) if line["level"] != "INFO"]
    assert line["message"] == "not an S3 notification"
    assert line["message_id"] == event["Records"][0]["messageId"]
    assert media.sandbox.uploads() == []
