"""The status tells the truth as reports arrive (issue 16): `updated_at` moves with each
stored report, `reported` never reads as going backwards, and a JSON callback is read."""

from __future__ import annotations

import json
import time
from typing import Any

from messaggio_callbacks.answers import StatusView
from messaggio_local.openapi import DOCUMENT
from tests.callbacks.conftest import MSG_ID, PTID, Api, callback_event, seed_send
from tests.conftest import load_event


def report(api: Api, status: str, **extra: str) -> Any:
    fields = {"msg_id": MSG_ID, "p_transaction_id": PTID, "type": "delivery", "status": status}
    return api.invoke(callback_event({**fields, **extra}, method="POST")).json()


def only_recipient(api: Api) -> dict[str, Any]:
    view = api.status().json()
    (recipient,) = view["recipients"]
    return dict(recipient)


def test_updated_at_moves_with_every_stored_report(api: Api) -> None:
    seed_send()
    sent = api.status().json()["updated_at"]
    time.sleep(0.01)
    assert report(api, "buffered") == {"stored": True}
    buffered = api.status().json()["updated_at"]
    time.sleep(0.01)
    seen = {"msg_id": MSG_ID, "p_transaction_id": PTID, "type": "reply", "text": "ok"}
    assert api.invoke(callback_event(seen)).json() == {"stored": True}
    replied = api.status().json()
    assert sent < buffered < replied["updated_at"]
    assert replied["updated_at"] == replied["recipients"][0]["replies"][0]["received_at"]
    time.sleep(0.01)
    assert report(api, "buffered") == {"stored": False}  # a repeat changes nothing
    assert api.status().json()["updated_at"] == replied["updated_at"]


def test_a_late_lower_report_does_not_read_as_going_backwards(api: Api) -> None:
    seed_send()
    report(api, "delivered")
    time.sleep(0.01)
    report(api, "buffered")  # arrives late, happened before delivered
    recipient = only_recipient(api)
    steps = list(recipient["reported"].items())
    assert recipient["status"] == "delivered"
    assert [s for s, _ in steps] == ["buffered", "delivered"]  # by rank...
    assert [t for _, t in steps] == sorted(t for _, t in steps)  # ...and in time


def test_the_fallback_reads_forward_whatever_the_order(api: Api) -> None:
    seed_send()
    report(api, "delivered")
    report(api, "undelivered", status_extended="VIBER_USER_NOT_FOUND")
    recipient = only_recipient(api)
    assert list(recipient["reported"]) == ["undelivered", "delivered"]
    assert recipient["status"] == "delivered"
    assert recipient["status_extended"] == "VIBER_USER_NOT_FOUND"


def test_a_json_callback_is_read_like_a_form(api: Api) -> None:
    seed_send()
    answer = api.invoke(load_event("callback_delivery_json.json"))
    assert (answer.status, answer.json()) == (200, {"stored": True})
    assert only_recipient(api)["status"] == "delivered"


def test_a_standard_json_report_may_give_its_status_as_a_number(api: Api) -> None:
    seed_send()
    event = load_event("callback_delivery_json.json")
    event["body"] = json.dumps({"msg_id": MSG_ID, "p_transaction_id": PTID, "status": 0})
    assert api.invoke(event).json() == {"stored": True}
    assert only_recipient(api)["status"] == "delivered"


def test_a_json_callback_that_is_not_a_report_says_why(api: Api) -> None:
    event = load_event("callback_delivery_json.json")
    for body, error in [
        ("[1, 2]", "JSON body must be an object of report fields"),
        ('{"msg_id": ', "body is not valid JSON"),
        ('{"msg_id": {"a": 1}}', "JSON report fields must be strings or whole numbers"),
        (json.dumps({"p_transaction_id": PTID, "type": "seen"}), "missing msg_id"),
    ]:
        event["body"] = body
        answer = api.invoke(event)
        assert (answer.status, answer.json()) == (400, {"error": error})


def test_the_openapi_document_declares_the_callback_fields() -> None:
    route = json.loads(DOCUMENT.read_text(encoding="utf-8"))["paths"]["/callbacks/{token}"]
    fields = {"msg_id", "p_transaction_id", "type", "status", "status_extended", "text"}
    assert {p["name"] for p in route["get"]["parameters"] if p["in"] == "query"} == fields
    form = route["post"]["requestBody"]["content"]["application/x-www-form-urlencoded"]
    name = form["schema"]["$ref"].rsplit("/", 1)[1]
    schemas = json.loads(DOCUMENT.read_text(encoding="utf-8"))["components"]["schemas"]
    assert set(schemas[name]["properties"]) == fields


def test_the_status_answer_shows_warnings_and_the_failed_state() -> None:
    schemas = json.loads(DOCUMENT.read_text(encoding="utf-8"))["components"]["schemas"]
    assert "failed" in schemas["State"]["enum"]
    assert "warnings" in schemas["StatusView"]["required"]
    assert StatusView.model_fields["warnings"].is_required()
