"""Section E through the handler: every report kind stored, repeats stored once, any order
and either side of the send record ending in the same state."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from messaggio_callbacks.answers import StatusView
from tests.callbacks.conftest import (
    MSG_ID,
    PHONE,
    PTID,
    Api,
    callback_event,
    partition,
    post_body_event,
    scan,
    seed_send,
    strip_times,
)
from tests.conftest import load_event

# event file -> (status, status_extended, reply texts) shown for the recipient afterwards
KINDS: dict[str, tuple[str, str | None, list[str]]] = {
    "callback_delivery_get.json": ("delivered", None, []),
    "callback_delivery_post.json": ("undelivered", "VIBER_USER_NOT_FOUND", []),
    "callback_seen_get.json": ("seen", None, []),
    "callback_seen_post.json": ("seen", None, []),
    "callback_reply_get.json": ("submitted", None, ["Thanks, see you at 5"]),
    "callback_reply_post.json": ("submitted", None, ["Дякую, буду о п'ятій"]),
    "callback_standard_get.json": ("delivered", None, []),
}


def recipient(api: Api, ptid: str = PTID) -> dict[str, Any]:
    answer = api.status(ptid)
    assert answer.status == 200, answer.body
    view = answer.json()
    StatusView.model_validate(view)  # the documented shape (openapi.json)
    assert len(view["recipients"]) == 1
    found: dict[str, Any] = view["recipients"][0]
    return found


@pytest.mark.parametrize("name", sorted(KINDS))
def test_each_report_kind_is_stored_and_shown(api: Api, name: str) -> None:
    seed_send()
    assert recipient(api)["status"] == "submitted"

    answer = api.invoke(load_event(name))

    assert (answer.status, answer.json()) == (200, {"stored": True})
    status, extended, replies = KINDS[name]
    shown = recipient(api)
    assert (shown["phone"], shown["msg_id"]) == (PHONE, MSG_ID)
    assert shown["status"] == status
    assert shown["status_extended"] == extended
    assert [reply["text"] for reply in shown["replies"]] == replies
    for reply in shown["replies"]:
        assert reply["received_at"].endswith("Z")
    if status != "submitted":
        assert set(shown["reported"]) == {status}
    assert "ReportStored" in api.metric_names()


@pytest.mark.parametrize("name", sorted(KINDS))
def test_a_repeated_report_changes_nothing(api: Api, name: str) -> None:
    seed_send()
    assert api.invoke(load_event(name)).json() == {"stored": True}
    before = scan()

    again = api.invoke(load_event(name))

    assert (again.status, again.json()) == (200, {"stored": False})
    assert scan() == before  # not even an arrival time moved
    assert len(recipient(api)["replies"]) == len(KINDS[name][2])
    assert "ReportDuplicate" in api.metric_names()


def test_get_and_post_of_the_same_reply_are_one_reply(api: Api) -> None:
    """The platform may retry a lost answer by the other method: same text, one reply."""
    seed_send()
    fields = {"msg_id": MSG_ID, "p_transaction_id": PTID, "type": "reply", "text": "Так"}
    assert api.invoke(callback_event(fields)).json() == {"stored": True}
    assert api.invoke(callback_event(fields, method="POST")).json() == {"stored": False}
    assert [r["text"] for r in recipient(api)["replies"]] == ["Так"]


def test_two_different_replies_are_both_kept(api: Api) -> None:
    seed_send()
    for text in ("Yes", "No, wait"):
        fields = {"msg_id": MSG_ID, "p_transaction_id": PTID, "type": "reply", "text": text}
        assert api.invoke(callback_event(fields)).json() == {"stored": True}
    assert sorted(r["text"] for r in recipient(api)["replies"]) == ["No, wait", "Yes"]


def test_a_late_failure_detail_is_filled_in_but_status_stays(api: Api) -> None:
    """undelivered (no detail), then delivered, then the same undelivered with its detail."""
    seed_send()
    ids = {"msg_id": MSG_ID, "p_transaction_id": PTID, "type": "delivery"}
    assert api.invoke(callback_event({**ids, "status": "undelivered"})).json()["stored"]
    assert api.invoke(callback_event({**ids, "status": "delivered"})).json()["stored"]
    late = {**ids, "status": "undelivered", "status_extended": "VIBER_EXPIRED"}
    assert api.invoke(callback_event(late)).json() == {"stored": True}
    shown = recipient(api)
    assert (shown["status"], shown["status_extended"]) == ("delivered", "VIBER_EXPIRED")


def test_a_base64_form_body_is_read(api: Api) -> None:
    seed_send()
    body = f"msg_id={MSG_ID}&p_transaction_id={PTID}&type=reply&text=%D0%94%D1%8F%D0%BA%D1%83%D1%8E"
    answer = api.invoke(post_body_event(body, base64_encoded=True))
    assert answer.json() == {"stored": True}
    assert [r["text"] for r in recipient(api)["replies"]] == ["Дякую"]


def test_a_post_without_content_type_is_read_as_a_form(api: Api) -> None:
    seed_send()
    event = load_event("callback_seen_post.json")
    del event["headers"]["Content-Type"]
    del event["multiValueHeaders"]["Content-Type"]
    assert api.invoke(event).json() == {"stored": True}
    assert recipient(api)["status"] == "seen"


# -- order ----------------------------------------------------------------------------------

ALL_REPORTS: list[dict[str, str]] = [
    {"type": "delivery", "status": "buffered"},
    {"type": "delivery", "status": "undelivered", "status_extended": "VIBER_NO_DEVICE"},
    {"type": "delivery", "status": "delivered"},  # the SMS fallback's, after the failure
    {"type": "seen"},
    {"type": "reply", "text": "Дякую!"},
]


def _play(api: Api, ptid: str, steps: list[tuple[int, str]], send_at: int) -> None:
    """Reports in the given order (by GET or POST), the send record landing at `send_at`."""
    for position, (index, method) in enumerate(steps):
        if position == send_at:
            seed_send(ptid)
        fields = {"msg_id": MSG_ID, "p_transaction_id": ptid, **ALL_REPORTS[index]}
        answer = api.invoke(callback_event(fields, method=method))
        assert answer.status == 200, answer.body
    if send_at >= len(steps):
        seed_send(ptid)


def _final(api: Api, ptid: str) -> tuple[Any, Any]:
    items = [{k: v for k, v in item.items() if k != "pk"} for item in partition(ptid)]
    view = api.status(ptid).json()
    view.pop("p_transaction_id")
    return strip_times(items), strip_times(view)


EXPECTED_RECIPIENT = {
    "phone": PHONE,
    "msg_id": MSG_ID,
    "status": "seen",
    "status_extended": "VIBER_NO_DEVICE",
    "reported": dict.fromkeys(["buffered", "delivered", "seen", "undelivered"], "<time>"),
    "replies": [{"text": "Дякую!", "received_at": "<time>"}],
}


@pytest.fixture
def reference(api: Api) -> tuple[Any, Any]:
    """The state after the reports in their natural order, send record first."""
    _play(api, "reference", [(i, "GET") for i in range(len(ALL_REPORTS))], send_at=0)
    final = _final(api, "reference")
    assert final[1]["recipients"] == [EXPECTED_RECIPIENT]
    return final


def test_report_before_the_send_record_and_after_agree(
    api: Api, reference: tuple[Any, Any]
) -> None:
    natural = [(i, "POST") for i in range(len(ALL_REPORTS))]
    _play(api, "early", natural, send_at=len(natural))  # every report before the record
    _play(api, "middle", natural, send_at=2)
    assert _final(api, "early") == reference
    assert _final(api, "middle") == reference


def test_reports_without_a_send_record_are_not_a_send(api: Api) -> None:
    """Until the send's record lands, the status API knows no such send (404)."""
    fields = {"msg_id": MSG_ID, "p_transaction_id": "not-yet", "type": "seen"}
    assert api.invoke(callback_event(fields)).json() == {"stored": True}
    assert api.status("not-yet").status == 404
    seed_send("not-yet")
    assert recipient(api, "not-yet")["status"] == "seen"


_counter = itertools.count()


@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    order=st.permutations(range(len(ALL_REPORTS))),
    repeats=st.lists(st.integers(0, len(ALL_REPORTS) - 1), max_size=4),
    methods=st.lists(st.sampled_from(["GET", "POST"]), min_size=9, max_size=9),
    data=st.data(),
)
def test_any_order_with_repeats_ends_the_same(
    api: Api,
    reference: tuple[Any, Any],
    order: list[int],
    repeats: list[int],
    methods: list[str],
    data: st.DataObject,
) -> None:
    """Each example is its own send (a fresh p_transaction_id), so examples share the table
    without sharing state."""
    sequence = list(order)
    for index in repeats:  # a repeat lands anywhere after... or before, as the platform likes
        sequence.insert(data.draw(st.integers(0, len(sequence))), index)
    steps = list(zip(sequence, methods, strict=False))
    send_at = data.draw(st.integers(0, len(steps)))
    ptid = f"prop-{next(_counter)}"

    _play(api, ptid, steps, send_at)

    assert _final(api, ptid) == reference
