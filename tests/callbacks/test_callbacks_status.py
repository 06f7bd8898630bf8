"""GET /messages/{id} (section G) through the handler, and what the function never logs."""

from __future__ import annotations

import json

import pytest

from messaggio_callbacks.handler import StatusView
from messaggio_local.openapi import DOCUMENT, openapi_document
from tests.callbacks.conftest import MSG_ID, PHONE, PTID, Api, callback_event, seed_send
from tests.conftest import CALLBACK_TOKEN, load_event

PHONE2 = "380671112233"
MSG_ID2 = "6ba7b810-9dad-11d1-80b4-00c04fd430c8"


def test_the_status_event_shows_the_send_in_order(api: Api) -> None:
    seed_send(phones=(PHONE, PHONE2), msg_ids={PHONE: MSG_ID, PHONE2: MSG_ID2})
    fields = {"msg_id": MSG_ID2, "p_transaction_id": PTID, "type": "seen"}
    assert api.invoke(callback_event(fields)).json() == {"stored": True}

    answer = api.invoke(load_event("status_query.json"))

    assert answer.status == 200
    assert answer.headers["Content-Type"] == "application/json"
    view = answer.json()
    StatusView.model_validate(view)
    assert (view["p_transaction_id"], view["state"], view["reason"]) == (PTID, "submitted", None)
    shown = [(r["phone"], r["msg_id"], r["status"]) for r in view["recipients"]]
    assert shown == [(PHONE, MSG_ID, "submitted"), (PHONE2, MSG_ID2, "seen")]


def test_an_unknown_id_is_404(api: Api) -> None:
    answer = api.status("order-9999")
    assert (answer.status, answer.json()) == (404, {"error": "not found"})


@pytest.mark.parametrize("ptid", ["x" * 65, "order$1042", "order,1042"])
def test_a_malformed_id_is_400(api: Api, ptid: str) -> None:
    answer = api.status(ptid)
    assert (answer.status, answer.json()) == (400, {"error": "malformed id"})


def test_logs_never_carry_the_token_a_reply_or_a_phone(api: Api) -> None:
    seed_send()
    for name in (
        "callback_reply_get.json",
        "callback_reply_post.json",
        "callback_reply_post.json",  # a repeat
        "callback_delivery_post.json",
        "callback_wrong_token.json",
        "callback_bad_body.json",
        "status_query.json",
    ):
        api.invoke(load_event(name))
    reply = {"msg_id": MSG_ID, "p_transaction_id": PTID, "type": "reply", "text": "x" * 5000}
    api.invoke(callback_event(reply))  # rejected: too long

    output = api.output()

    assert PTID in api.logs.getvalue()  # the control: the logs were captured, with the id
    assert '"correlation_id":"order-1042"' in api.logs.getvalue().replace(" ", "")
    for secret in (CALLBACK_TOKEN, "not-the-token", "Thanks, see you at 5", "Дякую", PHONE):
        assert secret not in output
    assert "\\u0414\\u044f\\u043a" not in output  # nor the reply escaped as JSON


def test_the_committed_openapi_document_is_what_the_handler_describes() -> None:
    committed = DOCUMENT.read_text(encoding="utf-8")
    assert committed == openapi_document(), (
        "functions/callbacks/openapi.json is stale: run "
        "PYTHONPATH=layers/shared:functions/callbacks:devtools python -m messaggio_local.openapi"
    )
    paths = json.loads(committed)["paths"]
    assert set(paths) == {"/callbacks/{token}", "/messages/{id}"}
    assert set(paths["/callbacks/{token}"]) == {"get", "post"}
    assert paths["/messages/{id}"]["get"]["security"] == [{"sigv4": []}]
