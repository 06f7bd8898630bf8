"""What the status says about a send, as the sender records it (issue 16): dead letters are
`failed`, an id the connector refused is not spent, what the connector changed is shown,
`kind` and `sms_parts` as sent, and every rejection lists its recipients alike."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from messaggio_local.template import template
from messaggio_sandbox import Fault
from messaggio_sender import handler
from messaggio_sender.settings import settings
from tests.fixtures.sender import Sender, body

MAX_RECEIVES = 3


@pytest.fixture
def counted(sender: Sender, monkeypatch: pytest.MonkeyPatch) -> Sender:
    """The sender told the queue's maxReceiveCount, as the template tells it."""
    monkeypatch.setenv("SEND_MAX_RECEIVE_COUNT", str(MAX_RECEIVES))
    settings.cache_clear()
    handler.deps.cache_clear()
    return sender


def delivery(event: dict[str, Any], receives: int) -> dict[str, Any]:
    """The same records as SQS hands them out for the `receives`-th time."""
    again = copy.deepcopy(event)
    for record in again["Records"]:
        record["attributes"]["ApproximateReceiveCount"] = str(receives)
    return again


def test_the_template_tells_the_sender_the_queues_receive_limit() -> None:
    resources = template()["Resources"]
    queue_limit = resources["SendQueue"]["Properties"]["RedrivePolicy"]["maxReceiveCount"]
    env = resources["SenderFunction"]["Properties"]["Environment"]["Variables"]
    assert env["SEND_MAX_RECEIVE_COUNT"] == queue_limit == {"Ref": "SendMaxReceiveCount"}


def test_a_send_failing_its_last_attempt_is_failed_and_a_redrive_sends_it_once(
    counted: Sender,
) -> None:
    counted.sandbox.inject(Fault.code(-4, "TEMPORARY ERROR"), times=MAX_RECEIVES)
    event = counted.batch([body("dead-1")])
    record_id = event["Records"][0]["messageId"]

    for receives in range(1, MAX_RECEIVES):
        assert counted.invoke(delivery(event, receives)) == [record_id]
        assert counted.state("dead-1")["state"] == "pending"

    # the last allowed delivery: the record still fails (SQS dead-letters it)...
    assert counted.invoke(delivery(event, MAX_RECEIVES)) == [record_id]
    view = counted.state("dead-1")
    assert (view["state"], view["reason"]) == ("failed", "TEMPORARY ERROR")
    assert len(counted.sandbox.sends()) == MAX_RECEIVES

    # ...and a redrive (a new delivery from the dead-letter queue) sends it, once
    assert counted.invoke(delivery(event, 1)) == []
    assert counted.invoke(delivery(event, 1)) == []
    assert len(counted.sandbox.sends()) == MAX_RECEIVES + 1
    assert counted.state("dead-1")["state"] == "submitted"


def test_a_send_never_tried_on_its_last_attempt_is_failed_too(counted: Sender) -> None:
    """No time left on the last delivery: nothing reached the platform, and the status says
    it failed (there was no record of it before)."""
    event = delivery(counted.batch([body("dead-late")]), MAX_RECEIVES)
    assert counted.invoke(event, remaining_ms=1500) == [event["Records"][0]["messageId"]]
    assert counted.sandbox.sends() == []
    view = counted.state("dead-late")
    assert view["state"] == "failed" and "no time left" in view["reason"]
    assert counted.invoke(delivery(event, 1)) == []
    assert len(counted.sandbox.sends()) == 1


def test_a_dead_letter_is_one_error_line_and_a_metric(
    counted: Sender, log_output: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    counted.sandbox.inject(Fault.http(503))
    counted.invoke(delivery(counted.batch([body("dead-log")]), MAX_RECEIVES))
    lines = [line for line in log_output.getvalue().splitlines() if "dead-lettered" in line]
    assert len(lines) == 1 and '"ERROR"' in lines[0] and "dead-log" in lines[0]
    assert '"DeadLettered"' in capsys.readouterr().out


def test_without_the_receive_limit_no_attempt_is_the_last(sender: Sender) -> None:
    sender.sandbox.inject(Fault.code(-4, "TEMPORARY ERROR"))
    sender.invoke(delivery(sender.batch([body("no-limit")]), 99))
    assert sender.state("no-limit")["state"] == "pending"


def test_a_corrected_body_after_a_refusal_is_sent_once(sender: Sender) -> None:
    sender.invoke(sender.batch([body("fix-1", phone=["380 50 123 4567"])]))
    assert sender.state("fix-1")["state"] == "rejected"
    sender.invoke(sender.batch([body("fix-1", phone=["380501234567"], txt=None)]))
    second = sender.state("fix-1")
    assert second["state"] == "rejected" and "txt: is required" in second["reason"]
    assert sender.sandbox.sends() == []

    corrected = sender.batch([body("fix-1")])
    assert sender.invoke(corrected) == []
    assert sender.invoke(corrected) == []
    sender.invoke(sender.batch([body("fix-1", phone=["bad"])]))  # a stale broken copy

    assert len(sender.sandbox.sends()) == 1
    view = sender.state("fix-1")
    assert (view["state"], view["reason"]) == ("submitted", None)
    assert [r["msg_id"] is not None for r in view["recipients"]] == [True]


def test_an_id_the_platform_refused_is_still_spent(sender: Sender) -> None:
    sender.sandbox.inject(Fault.code(-1, "PARAM ERROR (from)"))
    sender.invoke(sender.batch([body("spent-1")]))
    sender.invoke(sender.batch([body("spent-1", txt="another text")]))
    assert len(sender.sandbox.sends()) == 1
    assert sender.state("spent-1")["reason"] == "PARAM ERROR (from)"


def test_what_the_connector_changed_is_in_the_status(sender: Sender) -> None:
    sender.invoke(sender.batch([body("warn-1", button_text="Track")]))
    view = sender.state("warn-1")
    assert view["state"] == "submitted"
    assert view["warnings"] == ["button_text without button_link: sent as text without a button"]
    assert ("button_text", b"Track") not in sender.sandbox.sends()[0].params

    sender.invoke(sender.batch([body("warn-2")]))
    assert sender.state("warn-2")["warnings"] == []


@pytest.mark.parametrize(
    ("name", "ptid", "kind", "sms_parts"),
    [
        ("sqs_sms.json", "otp-5521", "sms", 1),
        ("sqs_text.json", "order-1042", "text", None),  # Viber only: no SMS asked for
        ("sqs_picture.json", "promo-7-picture", "picture", None),
        ("sqs_viber_sms_fallback.json", "order-1042-fallback", "text", 1),
    ],
)
def test_kind_and_sms_parts_as_sent(
    sender: Sender, name: str, ptid: str, kind: str, sms_parts: int | None
) -> None:
    sender.invoke(sender.event(name, sender.image_id()))
    view = sender.state(ptid)
    assert (view["state"], view["kind"], view["sms_parts"]) == ("submitted", kind, sms_parts)


def test_every_rejection_lists_its_recipients_alike(sender: Sender) -> None:
    phones = ["380501234567", "380671112233"]
    sender.invoke(sender.batch([body("rej-rule", phone=phones, colour="red")]))
    sender.sandbox.inject(Fault.code(-3, "REJECTED"))
    sender.invoke(sender.batch([body("rej-platform", phone=phones)]))

    for ptid in ("rej-rule", "rej-platform"):
        view = sender.state(ptid)
        assert view["state"] == "rejected"
        assert [(r["phone"], r["msg_id"], r["status"]) for r in view["recipients"]] == [
            (p, None, None) for p in phones
        ]
