"""Forged and malformed calls store nothing; storage failures answer 503; no input gives 5xx."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from messaggio_core.dal.clients import dynamodb
from messaggio_core.protocol.reports import BODY_MAX_BYTES
from tests.callbacks.conftest import (
    MSG_ID,
    PTID,
    Api,
    callback_event,
    post_body_event,
    refresh_settings,
    scan,
    seed_send,
)
from tests.conftest import SECRET_ID, load_event

GOOD = {"msg_id": MSG_ID, "p_transaction_id": PTID, "type": "seen"}


@pytest.fixture
def seeded(api: Api) -> list[dict[str, Any]]:
    """A send on the table, and the table's full contents before the call under test."""
    seed_send()
    return scan()


def forbidden(api: Api, event: dict[str, Any]) -> None:
    answer = api.invoke(event)
    assert (answer.status, answer.body) == (403, "forbidden")
    assert api.metric_names()[-1] == "CallbackForbidden"


# -- genuine -------------------------------------------------------------------------------


def test_a_wrong_token_is_forbidden_and_stores_nothing(
    api: Api, seeded: list[dict[str, Any]]
) -> None:
    forbidden(api, load_event("callback_wrong_token.json"))
    assert scan() == seeded
    # the control: the same report with the right token is stored
    assert api.invoke(load_event("callback_delivery_get.json")).json() == {"stored": True}


@pytest.mark.parametrize(
    "token",
    ["", "cb-token-0123456789abcde", "cb-token-0123456789abcdeF", "CB-TOKEN-0123456789ABCDEF"],
)
def test_near_misses_of_the_token_are_forbidden(
    api: Api, seeded: list[dict[str, Any]], token: str
) -> None:
    event = callback_event(GOOD, token=token)
    if not token:  # API Gateway would not route an empty segment; the path still must not
        event["path"] = "/callbacks/"
        assert api.invoke(event).status == 404
    else:
        forbidden(api, event)
    assert scan() == seeded


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_source_outside_the_allow_list_is_forbidden(
    api: Api, seeded: list[dict[str, Any]], method: str
) -> None:
    forbidden(api, callback_event(GOOD, method=method, source_ip="198.51.100.7"))
    forbidden(api, callback_event(GOOD, method=method, source_ip="not-an-address"))
    event = callback_event(GOOD, method=method)
    del event["requestContext"]["identity"]["sourceIp"]
    forbidden(api, event)
    assert scan() == seeded


@pytest.mark.parametrize("cidrs", ["", "0.0.0.0/0", "198.51.100.0/24, 203.0.113.10/32"])
def test_the_allow_list_lets_in_what_it_names(
    api: Api, seeded: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch, cidrs: str
) -> None:
    monkeypatch.setenv("CALLBACK_ALLOWED_CIDRS", cidrs)
    refresh_settings()
    assert api.invoke(callback_event(GOOD)).json() == {"stored": True}


@pytest.mark.parametrize(
    ("cidrs", "says"),
    [("203.0.113.7/24", "has host bits set"), ("203.0.113.0/24,platform.example", "platform")],
)
def test_an_unreadable_allow_list_refuses_every_callback_never_500(
    api: Api,
    seeded: list[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
    cidrs: str,
    says: str,
) -> None:
    """A malformed CALLBACK_ALLOWED_CIDRS: one ERROR line when read, then 403 for every
    callback (the platform retries for 24 h while it is fixed); the status route still works."""
    monkeypatch.setenv("CALLBACK_ALLOWED_CIDRS", cidrs)
    refresh_settings()
    for method in ("GET", "POST"):
        forbidden(api, callback_event(GOOD, method=method))  # 203.0.113.10: in the /24
    forbidden(api, load_event("callback_delivery_get.json"))
    assert scan() == seeded
    assert api.status().status == 200
    errors = [json.loads(line) for line in api.logs.getvalue().splitlines() if "ERROR" in line]
    assert len(errors) == 1, errors
    assert "CALLBACK_ALLOWED_CIDRS unreadable" in errors[0]["message"]
    assert says in errors[0]["reason"]


def test_the_source_is_checked_before_the_secret_is_read(
    api: Api, seeded: list[dict[str, Any]]
) -> None:
    """A stranger costs no Secrets Manager call, and learns nothing from a 503."""
    boto3.client("secretsmanager").delete_secret(
        SecretId=SECRET_ID, ForceDeleteWithoutRecovery=True
    )
    forbidden(api, callback_event(GOOD, source_ip="198.51.100.7"))


def test_the_token_is_checked_before_the_body(api: Api, seeded: list[dict[str, Any]]) -> None:
    """A forger learns nothing about the fields from the answer."""
    forbidden(api, callback_event({"type": "nonsense"}, token="guess-0000000000000000"))
    event = load_event("callback_bad_body.json")
    event["path"] = "/callbacks/guess-0000000000000000"
    forbidden(api, event)
    assert scan() == seeded


# -- well formed ---------------------------------------------------------------------------


def test_a_bad_body_is_rejected_with_a_short_reason(api: Api, seeded: list[dict[str, Any]]) -> None:
    """callback_bad_body.json: a JSON object, but not of a report's fields (no msg_id)."""
    answer = api.invoke(load_event("callback_bad_body.json"))
    assert (answer.status, answer.json()) == (400, {"error": "missing msg_id"})
    assert scan() == seeded
    assert api.metric_names()[-1] == "ReportRejected"


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({**GOOD, "type": "click"}, "unknown type"),
        ({"p_transaction_id": PTID, "type": "seen"}, "missing msg_id"),
        ({"msg_id": MSG_ID, "type": "seen"}, "missing p_transaction_id"),
        ({**GOOD, "type": "delivery", "status": "lost"}, "unknown status"),
        ({"msg_id": MSG_ID, "p_transaction_id": PTID, "status": "7"}, "unknown status"),
        ({**GOOD, "type": "delivery", "status": "undelivered", "status_extended": "X"}, None),
        ({**GOOD, "type": "reply"}, "missing text"),
        ({**GOOD, "type": "reply", "text": "x" * 4097}, "reply text too long"),
        ({**GOOD, "msg_id": "550e8400 e29b"}, "malformed msg_id"),
        ([*GOOD.items(), ("msg_id", "other")], "msg_id given more than once"),
        ({}, "missing msg_id"),
    ],
)
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_malformed_reports_are_rejected(
    api: Api,
    seeded: list[dict[str, Any]],
    fields: dict[str, str] | list[tuple[str, str]],
    reason: str | None,
    method: str,
) -> None:
    answer = api.invoke(callback_event(fields, method=method))
    assert answer.status == 400
    assert answer.json()["error"] == (reason or "unknown status_extended")
    assert scan() == seeded


def test_an_oversized_body_is_rejected(api: Api, seeded: list[dict[str, Any]]) -> None:
    padding = "x" * BODY_MAX_BYTES
    body = f"msg_id={MSG_ID}&p_transaction_id={PTID}&type=seen&pad={padding}"
    answer = api.invoke(post_body_event(body))
    assert (answer.status, answer.json()) == (400, {"error": "body too large"})
    answer = api.invoke(callback_event({**GOOD, "pad": padding}))
    assert (answer.status, answer.json()) == (400, {"error": "query too large"})
    assert scan() == seeded


@pytest.mark.parametrize(
    ("body", "base64_encoded", "reason"),
    [
        ("not base64!", True, "body is not base64"),
        ("&".join(f"f{i}=1" for i in range(100)), False, "too many fields"),
        ("%FF%FE=%00&&&==", False, "missing msg_id"),
    ],
)
def test_unreadable_bodies_are_rejected(
    api: Api, seeded: list[dict[str, Any]], body: str, base64_encoded: bool, reason: str
) -> None:
    event = post_body_event(body)
    event["isBase64Encoded"] = base64_encoded  # the body as given: not valid base64
    answer = api.invoke(event)
    assert (answer.status, answer.json()) == (400, {"error": reason})
    assert scan() == seeded


# -- stored, or 503 ------------------------------------------------------------------------


def test_a_missing_table_answers_503_so_the_platform_retries(
    api: Api, seeded: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MESSAGES_TABLE", "no-such-table")
    refresh_settings()
    answer = api.invoke(load_event("callback_seen_get.json"))
    assert answer.status == 503
    assert api.metric_names()[-1] == "CallbackStorageFailed"
    assert api.status().status == 503
    assert scan() == seeded


@pytest.mark.parametrize("name", ["callback_delivery_post.json", "callback_reply_get.json"])
def test_throttling_answers_503_and_writes_nothing(
    api: Api, seeded: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    def throttled(**_: Any) -> Any:
        error = {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow"}}
        raise ClientError(error, "UpdateItem")  # type: ignore[arg-type]

    client = dynamodb()
    monkeypatch.setattr(client, "update_item", throttled)
    monkeypatch.setattr(client, "put_item", throttled)
    monkeypatch.setattr(client, "query", throttled)
    answer = api.invoke(load_event(name))
    assert (answer.status, answer.json()) == (503, {"error": "unavailable, retry later"})
    assert api.status().status == 503
    monkeypatch.undo()
    assert scan() == seeded
    # once the table is back, the platform's retry is stored
    assert api.invoke(load_event(name)).json() == {"stored": True}


def test_an_unreadable_secret_answers_503(api: Api, seeded: list[dict[str, Any]]) -> None:
    boto3.client("secretsmanager").delete_secret(
        SecretId=SECRET_ID, ForceDeleteWithoutRecovery=True
    )
    answer = api.invoke(load_event("callback_seen_get.json"))
    assert answer.status == 503
    assert api.metric_names()[-1] == "CallbackCredentialsFailed"
    assert scan() == seeded
    (line,) = [json.loads(x) for x in api.logs.getvalue().splitlines() if '"ERROR"' in x]
    assert line["detail"] == f"secret {SECRET_ID}: secret missing"  # what failed, in words


@pytest.mark.parametrize(
    "body",
    ["[" * 100_000, "[" * 60_000, '{"a":' * 10_000 + "1" + "}" * 10_000, "msg_id=" + "[" * 60_000],
    ids=["nested-100000", "nested-60000", "objects-10000", "a-field-nested"],
)
@pytest.mark.parametrize("content_type", ["application/json", "application/x-www-form-urlencoded"])
def test_a_deeply_nested_body_is_400_never_5xx(
    api: Api, seeded: list[dict[str, Any]], body: str, content_type: str
) -> None:
    event = post_body_event(body)
    event["headers"]["Content-Type"] = content_type
    event["multiValueHeaders"]["Content-Type"] = [content_type]
    answer = api.invoke(event)
    assert answer.status == 400 and "error" in answer.json()
    assert scan() == seeded


def test_an_unknown_path_is_404_not_500(api: Api) -> None:
    event = load_event("callback_seen_get.json")
    event["path"] = "/callbacks/a/b"
    assert api.invoke(event).status == 404


# -- fuzz ----------------------------------------------------------------------------------

NAMES = st.sampled_from(
    ["msg_id", "p_transaction_id", "type", "status", "status_extended", "text", "x", ""]
)
VALUES = st.one_of(
    st.sampled_from(
        [
            MSG_ID,
            PTID,
            "delivery",
            "seen",
            "reply",
            "delivered",
            "undelivered",
            "buffered",
            "0",
            "-1",
            "-3",
            "VIBER_NO_DEVICE",
            "",
        ]
    ),
    st.text(max_size=40),
)
FIELDS = st.lists(st.tuples(NAMES, VALUES), max_size=8)
RAW = st.one_of(st.text(max_size=200), st.binary(max_size=200).map(lambda b: b.decode("latin-1")))


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(fields=FIELDS, raw=RAW, how=st.sampled_from(["GET", "POST", "raw", "base64"]))
def test_no_input_yields_a_5xx(api: Api, fields: list[tuple[str, str]], raw: str, how: str) -> None:
    if how in ("GET", "POST"):
        event = callback_event(fields, method=how)
    else:
        event = post_body_event(raw, base64_encoded=how == "base64")
    answer = api.invoke(event)
    assert answer.status in (200, 400), (answer.status, answer.body)
    assert "stored" in answer.json() or "error" in answer.json()


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("char", ["Я", "🎉"])
def test_a_longest_allowed_reply_is_stored(api: Api, method: str, char: str) -> None:
    """Percent-encoded, 4,096 Cyrillic characters take 24 KB and emoji 48 KB: still a report."""
    seed_send()
    fields = {"msg_id": MSG_ID, "p_transaction_id": PTID, "type": "reply", "text": char * 4096}
    answer = api.invoke(callback_event(fields, method=method))
    assert (answer.status, answer.json()) == (200, {"stored": True})
