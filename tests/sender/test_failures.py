"""What the sender does when something nobody expected happens: one ERROR line per failed
record (its messageId, p_transaction_id, the exception's type and stack, never a phone number
or a text), credentials that say what is wrong with them, and bodies that cannot be parsed
recorded once and never retried."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from messaggio_core.client import PlatformClient
from messaggio_core.dal import clients
from messaggio_core.dal.secrets import CredentialsUnavailable, _provider, reset_secrets
from messaggio_local.resources import SECRET_KEY
from tests.conftest import MEDIA_BUCKET, SECRET_ID
from tests.fixtures.faults import errors, log_lines, refuse
from tests.fixtures.sender import Sender, body

PHONE = "380501234567"
TEXT = "Hello from the test"


def only_error(log_output: io.StringIO) -> dict[str, Any]:
    (line,) = errors(log_output)
    return line


def private(log_output: io.StringIO) -> None:
    out = log_output.getvalue()
    assert PHONE not in out and TEXT not in out and SECRET_KEY not in out


def test_a_table_refusing_a_call_logs_one_error_line_and_retries(
    sender: Sender, log_output: io.StringIO
) -> None:
    refuse(clients.dynamodb(), "UpdateItem", "AccessDeniedException", 400, "not authorized")
    event = sender.batch([body("store-refused")])
    message_id = event["Records"][0]["messageId"]

    assert sender.invoke(event) == [message_id]

    line = only_error(log_output)
    assert line["message"] == "record failed"
    assert line["message_id"] == message_id
    assert line["p_transaction_id"] == "store-refused"
    assert line["exception_name"] == "StorageError"
    assert "AccessDeniedException" in line["exception"]
    assert "in claim" in line["exception"]  # the stack says where
    assert sender.sandbox.sends() == []
    private(log_output)


def test_an_unexpected_bug_is_logged_without_what_it_quotes(
    sender: Sender, log_output: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(self: PlatformClient, form: Any, phones: list[str]) -> Any:
        raise KeyError(f"{phones[0]} {TEXT}")  # a bug whose message quotes input

    monkeypatch.setattr(PlatformClient, "submit", broken)
    event = sender.batch([body("a-bug")])

    assert sender.invoke(event) == [event["Records"][0]["messageId"]]

    line = only_error(log_output)
    assert line["exception_name"] == "KeyError" and line["p_transaction_id"] == "a-bug"
    assert "in broken" in line["exception"] and "withheld" in line["exception"]
    private(log_output)


def test_retryable_outcomes_log_no_error_line(sender: Sender, log_output: io.StringIO) -> None:
    """-4 is expected: logged as processed, retried, and not an ERROR."""
    from messaggio_sandbox import Fault

    sender.sandbox.inject(Fault.code(-4))
    event = sender.batch([body("busy")])
    assert len(sender.invoke(event)) == 1
    assert errors(log_output) == []


@pytest.fixture
def secret_value(sender: Sender) -> Iterator[Any]:
    """Puts a new value in the secret (Powertools' cache forgotten)."""

    def put(value: str) -> None:
        boto3.client("secretsmanager").put_secret_value(SecretId=SECRET_ID, SecretString=value)
        reset_secrets()

    yield put
    reset_secrets()


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (f"login=acme secret_key={SECRET_KEY}", "not JSON"),
        (json.dumps({"login": "acme", "callback_token": "x" * 16}), "field missing: secret_key"),
        (json.dumps([SECRET_KEY]), "not a JSON object"),
    ],
    ids=["not-json", "field-missing", "not-an-object"],
)
def test_a_broken_secret_says_what_is_wrong_without_its_value(
    sender: Sender, log_output: io.StringIO, secret_value: Any, value: str, reason: str
) -> None:
    secret_value(value)
    event = sender.batch([body("creds")])
    with pytest.raises(CredentialsUnavailable):
        sender.invoke(event)

    line = only_error(log_output)
    assert line["message"] == "platform credentials unavailable"
    assert reason in line["reason"] and SECRET_ID in line["reason"]
    assert line["message_ids"] == [event["Records"][0]["messageId"]]
    assert sender.sandbox.sends() == []
    private(log_output)


def test_a_missing_secret_and_a_denied_one_are_told_apart(
    sender: Sender, log_output: io.StringIO
) -> None:
    boto3.client("secretsmanager").delete_secret(
        SecretId=SECRET_ID, ForceDeleteWithoutRecovery=True
    )
    reset_secrets()
    with pytest.raises(CredentialsUnavailable, match="secret missing"):
        sender.invoke(sender.batch([body("no-secret")]))

    reset_secrets()
    refuse(_provider().client, "GetSecretValue", "AccessDeniedException", 400, "denied")
    with pytest.raises(CredentialsUnavailable, match="access denied"):
        sender.invoke(sender.batch([body("denied")]))

    reasons = [line["reason"] for line in errors(log_output)]
    assert len(reasons) == 2
    assert "secret missing" in reasons[0] and "access denied" in reasons[1]


def test_a_body_nested_100000_deep_is_rejected_once_and_never_retried(
    sender: Sender, log_output: io.StringIO
) -> None:
    event = sender.batch(["[" * 100_000])
    message_id = event["Records"][0]["messageId"]

    assert sender.invoke(event) == []
    assert sender.invoke(event) == []  # the same record again: still not retried

    view = sender.state(message_id)
    assert view["state"] == "rejected" and view["reason"] == "body: is not valid JSON"
    assert errors(log_output) == []
    rejected = [line for line in log_lines(log_output) if line["message"] == "send rejected"]
    assert len(rejected) == 2 and {line["correlation_id"] for line in rejected} == {message_id}


def test_a_deep_value_inside_a_body_is_rejected(sender: Sender) -> None:
    deep = json.loads("[" * 500 + "]" * 500)
    event = sender.batch([body("deep-value", phone=deep)])
    assert sender.invoke(event) == []
    assert sender.state("deep-value")["state"] == "rejected"


# -- images that cannot be read (the media bucket through s3://) -----------------------------


@pytest.fixture
def bucket(sender: Sender, media_bucket: str) -> str:
    return media_bucket


def test_a_missing_image_is_rejected_with_its_reason(
    sender: Sender, bucket: str, log_output: io.StringIO
) -> None:
    event = sender.batch([body("img-missing", image=f"s3://{bucket}/gone.png", txt=None)])
    assert sender.invoke(event) == []
    view = sender.state("img-missing")
    assert view["state"] == "rejected"
    assert view["reason"] == f"image: no such object s3://{MEDIA_BUCKET}/gone.png"
    assert errors(log_output) == []


def test_an_image_the_function_may_not_read_is_logged_and_retried(
    sender: Sender, bucket: str, log_output: io.StringIO
) -> None:
    """S3's 403 is not "missing": without permission it may well exist. Retried, and said."""
    boto3.client("s3").put_object(Bucket=bucket, Key="locked.png", Body=b"\x89PNG\r\n\x1a\n")
    refuse(clients.s3(), "GetObject", "AccessDenied", 403, "Access Denied")
    event = sender.batch([body("img-denied", image=f"s3://{bucket}/locked.png", txt=None)])
    message_id = event["Records"][0]["messageId"]

    assert sender.invoke(event) == [message_id]

    line = only_error(log_output)
    assert line["message_id"] == message_id and line["p_transaction_id"] == "img-denied"
    assert line["exception_name"] == "StorageError" and "403" in line["exception"]
    assert sender.store().lifecycle("img-denied") is None  # nothing recorded as refused
    assert sender.sandbox.sends() == [] and sender.sandbox.uploads() == []
