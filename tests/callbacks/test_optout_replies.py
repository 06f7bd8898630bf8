"""Opt-out and resume keywords in replies, through the callbacks handler: the list changes
with the reply's first storing, exactly once, and nothing else does."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from messaggio_core.dal.optouts import PARTITION
from tests.callbacks.conftest import (
    MSG_ID,
    PHONE,
    PTID,
    Api,
    opt_out_event,
    refresh_settings,
    reply_event,
    seed_send,
)
from tests.conftest import TABLE, load_event

PHONE2 = "380671112233"
MSG_ID2 = "6ba7b810-9dad-11d1-80b4-00c04fd430c8"


def listed(api: Api, phone: str = PHONE) -> dict[str, object] | None:
    answer = api.invoke(opt_out_event("GET", phone))
    assert answer.status in (200, 404), answer.body
    return answer.json() if answer.status == 200 else None


def entries() -> list[dict[str, Any]]:
    """Every item of the opt-out partition (read around the handler, straight from the table)."""
    items: list[dict[str, Any]] = boto3.client("dynamodb").query(
        TableName=TABLE,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": PARTITION}},
    )["Items"]
    return items


def test_the_committed_stop_reply_puts_the_recipient_on_the_list(api: Api) -> None:
    seed_send()

    answer = api.invoke(load_event("callback_reply_stop_post.json"))

    assert (answer.status, answer.json()) == (200, {"stored": True})
    entry = listed(api)
    assert entry is not None
    assert {k: v for k, v in entry.items() if k != "opted_out_at"} == {
        "phone": PHONE,
        "source": "keyword",
        "keyword": "STOP",
        "p_transaction_id": PTID,
        "msg_id": MSG_ID,
        "caller": None,
    }
    assert str(entry["opted_out_at"]).endswith("Z")
    assert api.metric_names().count("OptedOut") == 1
    # the reply itself is kept like any other
    (recipient,) = api.status().json()["recipients"]
    assert [r["text"] for r in recipient["replies"]] == ["STOP"]


@pytest.mark.parametrize("text", ["Стоп!", "  unsubscribe. ", "отписка", "QUIT"])
def test_either_language_any_case_trailing_punctuation(api: Api, text: str) -> None:
    seed_send()
    assert api.invoke(reply_event(text)).json() == {"stored": True}
    assert listed(api) is not None


@pytest.mark.parametrize(
    "text", ["don't stop", "Stop sending me this?", "стоп, а доставка?", "Thanks"]
)
def test_a_sentence_containing_the_word_changes_nothing(api: Api, text: str) -> None:
    seed_send()
    assert api.invoke(reply_event(text)).json() == {"stored": True}
    assert listed(api) is None
    assert entries() == []
    assert "OptedOut" not in api.metric_names()


def test_a_resume_keyword_takes_the_phone_off(api: Api) -> None:
    seed_send()
    api.invoke(reply_event("STOP"))
    assert listed(api) is not None

    assert api.invoke(reply_event("Старт")).json() == {"stored": True}

    assert listed(api) is None
    assert api.metric_names().count("OptedIn") == 1


def test_the_list_survives_redelivered_replies(api: Api) -> None:
    """A repeat of a reply is not a new reply: it changes nothing, in either direction."""
    seed_send()
    assert api.invoke(reply_event("STOP")).json() == {"stored": True}
    first = listed(api)
    assert api.invoke(reply_event("STOP")).json() == {"stored": False}
    assert listed(api) == first  # same entry, same time
    assert len(entries()) == 1

    assert api.invoke(reply_event("START")).json() == {"stored": True}
    # the platform redelivers the old STOP after the START: the phone stays off the list
    assert api.invoke(reply_event("STOP")).json() == {"stored": False}
    assert listed(api) is None
    assert api.invoke(reply_event("START")).json() == {"stored": False}
    names = api.metric_names()
    assert (names.count("OptedOut"), names.count("OptedIn")) == (1, 1)
    assert names.count("ReportDuplicate") == 3


def test_a_second_stop_to_another_send_keeps_the_first_entry(api: Api) -> None:
    seed_send()
    seed_send("order-2000", msg_ids={PHONE: MSG_ID2})
    api.invoke(reply_event("STOP"))
    first = listed(api)

    assert api.invoke(reply_event("Stop.", "order-2000", MSG_ID2)).json() == {"stored": True}

    assert listed(api) == first


def test_the_phone_comes_from_the_send_that_was_answered(api: Api) -> None:
    seed_send(phones=(PHONE, PHONE2), msg_ids={PHONE: MSG_ID, PHONE2: MSG_ID2})

    api.invoke(reply_event("stop", msg_id=MSG_ID2))

    assert listed(api, PHONE2) is not None
    assert listed(api, PHONE) is None


def test_a_keyword_whose_phone_is_unknown_is_stored_and_reported(api: Api) -> None:
    """No send record (or several recipients and no msg_ids): the reply is kept, the list
    cannot change, and the operator is told (one ERROR line with the ids, a metric)."""
    answer = api.invoke(reply_event("STOP", ptid="order-unknown"))

    assert answer.json() == {"stored": True}
    assert entries() == []
    assert "OptOutUnresolved" in api.metric_names()
    errors = [line for line in api.logs.getvalue().splitlines() if '"ERROR"' in line]
    assert len(errors) == 1 and "order-unknown" in errors[0] and MSG_ID in errors[0]


def test_configured_keywords_replace_the_defaults(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPT_OUT_KEYWORDS", "ARRET, HALT")
    monkeypatch.setenv("OPT_IN_KEYWORDS", "GO")
    refresh_settings()
    seed_send()

    api.invoke(reply_event("STOP"))
    assert listed(api) is None
    api.invoke(reply_event("halt!"))
    entry = listed(api)
    assert entry is not None and entry["keyword"] == "HALT"
    api.invoke(reply_event("Go"))
    assert listed(api) is None


def test_the_logs_name_the_keyword_never_the_phone_or_text(api: Api) -> None:
    seed_send()
    api.invoke(reply_event("Стоп!"))
    output = api.output()
    assert "recipient opted out" in api.logs.getvalue()  # the control
    assert PHONE not in output
    assert "Стоп" not in output and "\\u0421\\u0442" not in output
