"""Fixtures for the callbacks function: the real handler over moto, with its logs and metrics
captured, and API Gateway events built from the committed files in events/."""

from __future__ import annotations

import base64
import copy
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any
from urllib.parse import quote, urlencode

import boto3
import pytest

# Imported at collection, so that Powertools' Logger binds to the session's stdout and not
# to one test's capture (closed when that test ends).
from messaggio_callbacks import handler
from messaggio_callbacks.settings import settings
from messaggio_core.dal.messages import Claimed, MessageStore, SendMeta
from messaggio_core.protocol.surface import State
from messaggio_local.resources import CALLBACK_TOKEN
from messaggio_local.template import function_context
from tests.conftest import TABLE, load_event
from tests.fixtures.logs import redirected

PTID = "order-1042"
MSG_ID = "550e8400-e29b-41d4-a716-446655440000"
PHONE = "380501234567"
PLATFORM_IP = "203.0.113.10"  # the source address in the event files
PLATFORM_CIDRS = "203.0.113.0/24"


@dataclass
class Answer:
    status: int
    body: str
    headers: dict[str, str]

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Api:
    """The callbacks function as API Gateway calls it, and what it wrote to stdout."""

    handler: ModuleType
    capsys: pytest.CaptureFixture[str]
    logs: io.StringIO
    stdout: list[str] = field(default_factory=list)

    def invoke(self, event: dict[str, Any]) -> Answer:
        result: dict[str, Any] = self.handler.lambda_handler(
            event, function_context("CallbacksFunction")
        )
        self.stdout.append(self.capsys.readouterr().out)
        headers = dict(result.get("headers") or {})
        for name, values in (result.get("multiValueHeaders") or {}).items():
            headers[name] = ",".join(values)
        return Answer(result["statusCode"], result["body"], headers)

    def status(self, ptid: str = PTID) -> Answer:
        return self.invoke(status_event(ptid))

    def metric_names(self) -> list[str]:
        """Every metric flushed so far (Powertools prints one EMF JSON line per flush)."""
        names: list[str] = []
        for line in "".join(self.stdout).splitlines():
            if line.startswith("{") and '"_aws"' in line:
                blob = json.loads(line)
                for directive in blob["_aws"]["CloudWatchMetrics"]:
                    names.extend(m["Name"] for m in directive["Metrics"])
        return names

    def output(self) -> str:
        """Everything the function wrote: its log lines and its metrics."""
        return self.logs.getvalue() + "".join(self.stdout)


def _fresh_settings() -> None:
    settings.cache_clear()


@pytest.fixture
def api(
    table: str, secret: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Iterator[Api]:
    """The handler with a table, the secret and the platform's range allowed."""
    monkeypatch.setenv("CALLBACK_ALLOWED_CIDRS", PLATFORM_CIDRS)
    _fresh_settings()
    logs = redirected(handler.logger, monkeypatch)
    capsys.readouterr()
    try:
        yield Api(handler, capsys, logs)
    finally:
        _fresh_settings()


def refresh_settings() -> None:
    """For tests that change the environment after the handler read it."""
    _fresh_settings()


def seed_send(
    ptid: str = PTID, phones: tuple[str, ...] = (PHONE,), msg_ids: dict[str, str] | None = None
) -> None:
    """A submitted send as the sender records it: claim, then settle with the msg_ids."""
    store = MessageStore(TABLE, 90)
    meta = SendMeta("text", "viber", phones, None, "sqs-message-1")
    assert isinstance(store.claim(ptid, "claim-1", meta), Claimed)
    assert store.settle(
        ptid, "claim-1", State.SUBMITTED, None, msg_ids=msg_ids or {PHONE: MSG_ID}, phones=phones
    )


def scan() -> list[dict[str, Any]]:
    """The whole table, in a stable order."""
    items = boto3.client("dynamodb").scan(TableName=TABLE)["Items"]
    return sorted(items, key=lambda item: (item["pk"]["S"], item["sk"]["S"]))


def partition(ptid: str) -> list[dict[str, Any]]:
    """One send's items (a Query: the property test's table grows with every example)."""
    items = boto3.client("dynamodb").query(
        TableName=TABLE,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": f"TX#{ptid}"}},
    )["Items"]
    return sorted(items, key=lambda item: item["sk"]["S"])


def callback_event(
    fields: dict[str, str] | list[tuple[str, str]],
    *,
    method: str = "GET",
    token: str = CALLBACK_TOKEN,
    source_ip: str = PLATFORM_IP,
) -> dict[str, Any]:
    """A callback event shaped like the committed ones, with other fields."""
    pairs = list(fields.items()) if isinstance(fields, dict) else list(fields)
    event = copy.deepcopy(
        load_event("callback_seen_get.json" if method == "GET" else "callback_seen_post.json")
    )
    event["path"] = f"/callbacks/{quote(token, safe='')}"
    event["pathParameters"] = {"token": token}
    event["requestContext"]["identity"]["sourceIp"] = source_ip
    if method == "GET":
        multi: dict[str, list[str]] = {}
        for name, value in pairs:
            multi.setdefault(name, []).append(value)
        event["multiValueQueryStringParameters"] = multi or None
        event["queryStringParameters"] = {k: v[-1] for k, v in multi.items()} or None
    else:
        event["body"] = urlencode(pairs)
    return event


def post_body_event(body: str, *, base64_encoded: bool = False) -> dict[str, Any]:
    event = callback_event({}, method="POST")
    if base64_encoded:
        event["body"] = base64.b64encode(body.encode()).decode()
        event["isBase64Encoded"] = True
    else:
        event["body"] = body
    return event


def status_event(ptid: str) -> dict[str, Any]:
    event = copy.deepcopy(load_event("status_query.json"))
    event["path"] = f"/messages/{ptid}"
    event["pathParameters"] = {"id": ptid}
    return event


def opt_out_event(
    method: str, phone: str | None = PHONE, query: dict[str, str] | None = None
) -> dict[str, Any]:
    """An opt-out route's event, from the committed events/opt_out*.json files."""
    if phone is None:
        event = copy.deepcopy(load_event("opt_outs_list.json"))
        event["queryStringParameters"] = query or None
        event["multiValueQueryStringParameters"] = {
            k: [v] for k, v in (query or {}).items()
        } or None
        return event
    name = {"GET": "opt_out_get.json", "PUT": "opt_out_put.json", "DELETE": "opt_out_delete.json"}
    event = copy.deepcopy(load_event(name[method]))
    event["path"] = f"/opt-outs/{phone}"
    event["pathParameters"] = {"phone": phone}
    event["requestContext"]["path"] = f"/v1/opt-outs/{phone}"
    return event


def reply_event(text: str, ptid: str = PTID, msg_id: str = MSG_ID) -> dict[str, Any]:
    """A reply report as the platform POSTs it."""
    fields = {"msg_id": msg_id, "p_transaction_id": ptid, "type": "reply", "text": text}
    return callback_event(fields, method="POST")


def strip_times(value: Any) -> Any:
    """A view or items with arrival times blanked: they differ between runs, not states."""
    times = {"received_at", "created_at", "updated_at", "submitted_at", "expires_at", "claimed_at"}
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, inner in value.items():
            if key in times or (isinstance(key, str) and key.startswith("r_")):
                out[key] = "<time>"
            elif key == "reported":
                out[key] = dict.fromkeys(inner, "<time>")
            else:
                out[key] = strip_times(inner)
        return out
    if isinstance(value, list):
        return [strip_times(inner) for inner in value]
    return value
