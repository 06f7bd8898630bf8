"""GET /messages/{id} (section G) through the handler, and what the function never logs."""

from __future__ import annotations

import json
from typing import Any

import pytest

from messaggio_callbacks.answers import StatusView
from messaggio_core.dal.messages import MessageStore
from messaggio_core.protocol.reports import REPLY_MAX, Report, ReportType, Status
from messaggio_core.protocol.surface import STATUS_PAGE_ITEMS
from messaggio_local.openapi import DOCUMENT, openapi_document
from messaggio_local.resources import CALLBACK_TOKEN
from tests.callbacks.conftest import (
    MSG_ID,
    PHONE,
    PTID,
    Api,
    callback_event,
    seed_send,
    status_event,
)
from tests.conftest import TABLE, load_event

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
    assert set(paths) == {"/callbacks/{token}", "/messages/{id}", "/opt-outs/{phone}", "/opt-outs"}
    assert set(paths["/callbacks/{token}"]) == {"get", "post"}
    assert paths["/messages/{id}"]["get"]["security"] == [{"sigv4": []}]
    assert set(paths["/opt-outs/{phone}"]) == {"get", "put", "delete"}
    for operation in [*paths["/opt-outs/{phone}"].values(), paths["/opt-outs"]["get"]]:
        assert operation["security"] == [{"sigv4": []}]
    listed = paths["/opt-outs"]["get"]["parameters"]
    assert {(p["name"], p["in"]) for p in listed} == {("next", "query"), ("limit", "query")}


# -- pages: an answer stays far below Lambda's 6 MB ----------------------------------------

LAMBDA_RESPONSE_MAX = 6 * 1024 * 1024


def page_event(ptid: str, next_page: str | None) -> dict[str, Any]:
    event = status_event(ptid)
    if next_page is not None:
        event["queryStringParameters"] = {"next": next_page}
        event["multiValueQueryStringParameters"] = {"next": [next_page]}
    return event


def all_pages(api: Api, ptid: str = PTID) -> list[dict[str, Any]]:
    pages: list[dict[str, Any]] = []
    next_page: str | None = None
    while True:
        answer = api.invoke(page_event(ptid, next_page))
        assert answer.status == 200
        assert len(answer.body.encode()) < LAMBDA_RESPONSE_MAX // 2
        view = answer.json()
        StatusView.model_validate(view)
        pages.append(view)
        next_page = view["next"]
        if next_page is None:
            return pages
        assert len(pages) < 50, "the pages never end"


def test_many_long_replies_are_paged_not_one_answer_over_6_mb(api: Api) -> None:
    """400 replies of 4,096 four-byte characters: 6.5 MB in one answer, which Lambda refuses."""
    seed_send(phones=(PHONE, PHONE2), msg_ids={PHONE: MSG_ID, PHONE2: MSG_ID2})
    store = MessageStore(TABLE, 90)
    store.record_report(Report(ReportType.SEEN, MSG_ID2, PTID, Status.SEEN))
    texts = {f"{n:04d}" + "\U0001f600" * (REPLY_MAX - 4) for n in range(400)}
    for text in texts:
        store.record_report(Report(ReportType.REPLY, MSG_ID, PTID, None, text=text))

    pages = all_pages(api)

    assert len(pages) >= 4
    assert pages[0]["recipients"][0]["phone"] == PHONE  # the first page lists every phone
    assert [r["phone"] for r in pages[0]["recipients"]] == [PHONE, PHONE2]
    for view in pages:
        assert sum(len(r["replies"]) + 1 for r in view["recipients"]) <= STATUS_PAGE_ITEMS + 2
        assert (view["p_transaction_id"], view["state"]) == (PTID, "submitted")
    replies = [x["text"] for v in pages for r in v["recipients"] for x in r["replies"]]
    assert sorted(replies) == sorted(texts)  # each reply once, none lost
    seen = {r["msg_id"]: r["status"] for v in pages for r in v["recipients"] if r["reported"]}
    assert seen == {MSG_ID2: "seen"}
    assert all(r["phone"] == PHONE for v in pages[1:] for r in v["recipients"])


def test_a_small_send_is_one_answer_with_next_null(api: Api) -> None:
    seed_send()
    view = api.status().json()
    assert view["next"] is None and len(view["recipients"]) == 1


@pytest.mark.parametrize(
    "next_page",
    ["", "not-a-cursor", "TVNHIw", "U0VORA", "x" * 1000, "\u00e9\u00e9", "TVNHIyQkJA"],
    ids=["empty", "junk", "msg-prefix-only", "the-send-key", "huge", "non-ascii", "bad-msg-id"],
)
def test_a_next_the_store_did_not_make_is_400(api: Api, next_page: str) -> None:
    seed_send()
    answer = api.invoke(page_event(PTID, next_page))
    assert (answer.status, answer.json()) == (400, {"error": "malformed next"})


def test_a_page_of_an_unknown_send_is_404(api: Api) -> None:
    seed_send()
    cursor = "TVNHI2FiYw"  # a well-formed cursor (MSG#abc)
    assert api.invoke(page_event("order-9999", cursor)).status == 404
    assert api.invoke(page_event(PTID, cursor)).json()["recipients"] == []
