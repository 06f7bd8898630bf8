"""The sender through its real handler: events/ files, moto, the sandbox over loopback."""

from __future__ import annotations

import hashlib
import io
import json
import threading
from typing import Any

import boto3
import pytest

from messaggio_sandbox import Fault
from tests.fixtures.sender import Sender, body

KIND_EVENTS = [
    "sqs_text.json",
    "sqs_picture.json",
    "sqs_text_button.json",
    "sqs_text_picture_button.json",
    "sqs_sms.json",
    "sqs_viber_sms_fallback.json",
]
CODECS = {None: "utf-8", "UTF-8": "utf-8", "CP1251": "cp1251", "UCS-2": "utf-16-be"}


def expected_form(data: dict[str, Any]) -> list[tuple[str, bytes]]:
    """What docs/protocol.md sections A-C say the platform must receive, computed here by hand
    (independently of messaggio_core) from the queue body."""
    codec = CODECS[data.get("charset")]
    txt = data["txt"].encode(codec) if "txt" in data else None
    out: list[tuple[str, bytes]] = [
        ("sending_method", data["sending_method"].encode()),
        ("from", data["from"].encode()),
        ("user", b"acme"),
    ]
    if txt is not None:
        out.append(("txt", txt))
    out += [("phone", p.encode()) for p in data["phone"]]
    out.append(("p_transaction_id", data["p_transaction_id"].encode()))
    if "charset" in data:
        out.append(("charset", data["charset"].encode()))
    out.append(("dlr", b"1"))
    if "dlr_timeout" in data:
        out.append(("dlr_timeout", str(data["dlr_timeout"]).encode()))
    if "expiry_txt" in data:
        out.append(("expiry_txt", data["expiry_txt"].encode(codec)))
    for name in ("image_id", "button_text", "button_link"):
        if name in data:
            out.append((name, data[name].encode()))
    signed = b"acme" + data["from"].encode() + "".join(data["phone"]).encode()
    signed += (txt or b"") + b"s3cr3t-Key"
    out.append(("sign", hashlib.md5(signed).hexdigest().encode()))
    return out


@pytest.mark.parametrize("name", KIND_EVENTS)
def test_each_kind_reaches_the_platform_exactly_right(sender: Sender, name: str) -> None:
    image_id = sender.image_id()
    event = sender.event(name, image_id)
    data = json.loads(event["Records"][0]["body"])

    assert sender.invoke(event) == []

    (request,) = sender.sandbox.sends()
    assert request.method == "POST"
    assert request.params == expected_form(data)
    assert request.code == 0
    view = sender.state(data["p_transaction_id"])
    assert view["state"] == "submitted" and view["reason"] is None
    assert [r["phone"] for r in view["recipients"]] == data["phone"]
    assert [r["msg_id"] for r in view["recipients"]] == [request.msg_ids[p] for p in data["phone"]]
    assert {r["status"] for r in view["recipients"]} == {"submitted"}


def test_sms_parts_are_recorded(sender: Sender) -> None:
    sender.invoke(sender.event("sqs_viber_sms_fallback.json"))
    view = sender.state("order-1042-fallback")
    assert view["kind"] == "text" and view["sms_parts"] == 1


def test_broken_bodies_are_rejected_never_sent_never_retried(sender: Sender) -> None:
    event = sender.event("sqs_broken_bodies.json")

    assert sender.invoke(event) == []

    assert sender.sandbox.sends() == []
    not_json = sender.state(event["Records"][0]["messageId"])
    assert not_json["state"] == "rejected" and "not valid JSON" in not_json["reason"]
    assert "phone[0]" in sender.state("broken-phone")["reason"]
    assert "colour: is not a known field" in sender.state("broken-unknown-field")["reason"]
    assert "CP1251 cannot carry" in sender.state("broken-charset")["reason"]
    many = sender.state(event["Records"][4]["messageId"])["reason"]
    assert "from:" in many and "txt:" in many and "dlr_timeout:" in many


def test_a_broken_copy_never_overwrites_a_real_send(sender: Sender) -> None:
    sender.invoke(sender.batch([body("real-1")]))
    sender.invoke(sender.batch([body("real-1", phone=["bad"])]))
    assert sender.state("real-1")["state"] == "submitted"


def test_the_same_record_twice_is_sent_once(sender: Sender) -> None:
    event = sender.event("sqs_text.json")
    assert sender.invoke(event) == []
    assert sender.invoke(event) == []
    assert len(sender.sandbox.sends()) == 1


def test_two_records_with_one_transaction_id_in_one_batch(sender: Sender) -> None:
    """Processed at the same moment: one sends, the other is handed back without sending,
    and once retried finds the send done."""
    sender.sandbox.latency = 0.3
    event = sender.batch([body("same-1"), body("same-1", txt="copy")])
    failed = sender.invoke(event)
    assert len(sender.sandbox.sends()) == 1
    assert len(failed) == 1
    retry = {"Records": [r for r in event["Records"] if r["messageId"] in failed]}
    assert sender.invoke(retry) == []
    assert len(sender.sandbox.sends()) == 1


def test_two_invocations_at_once_send_once(sender: Sender) -> None:
    sender.sandbox.latency = 0.3
    event = sender.batch([body("race-1")])
    results: list[list[str]] = []
    threads = [
        threading.Thread(target=lambda: results.append(sender.invoke(event))) for _ in range(2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(sender.sandbox.sends()) == 1
    assert sorted(len(r) for r in results) == [0, 1]


@pytest.mark.parametrize(
    ("fault", "state", "retried"),
    [
        (Fault.code(-4, "TEMPORARY ERROR"), "pending", True),
        (Fault.http(503), "pending", True),
        (Fault.http(429), "pending", True),
        (Fault.code(-1, "PARAM ERROR (from)"), "rejected", False),
        (Fault.code(-3, "REJECTED"), "rejected", False),
        (Fault.hang(2.0), "unknown", False),
        (Fault.drop(), "unknown", False),
    ],
)
def test_platform_faults(sender: Sender, fault: Fault, state: str, retried: bool) -> None:
    sender.sandbox.inject(fault)
    event = sender.batch([body("fault-1")])
    failed = sender.invoke(event)
    assert (failed == [event["Records"][0]["messageId"]]) is retried
    view = sender.state("fault-1")
    assert view["state"] == state
    assert view["reason"]
    # the redelivered record: sent again only when nothing was (or the platform said repeat)
    sender.invoke(event)
    sends = len(sender.sandbox.sends())
    assert sends == (2 if retried else 1)
    if retried:
        assert sender.state("fault-1")["state"] == "submitted"


def test_rejected_reason_is_the_tech_message(sender: Sender) -> None:
    sender.sandbox.inject(Fault.code(-1, "PARAM ERROR (from)"))
    sender.invoke(sender.batch([body("tech-1")]))
    assert sender.state("tech-1")["reason"] == "PARAM ERROR (from)"


def test_refused_connection_is_retried_and_then_sent_once(
    sender: Sender, monkeypatch: pytest.MonkeyPatch
) -> None:
    from messaggio_sender import handler
    from messaggio_sender.settings import settings

    monkeypatch.setenv("MESSAGGIO_SEND_URL", "http://127.0.0.1:9/send")  # nothing listens
    settings.cache_clear()
    handler.deps.cache_clear()
    event = sender.batch([body("refused-1")])
    assert sender.invoke(event) == [event["Records"][0]["messageId"]]
    assert sender.state("refused-1")["state"] == "pending"

    monkeypatch.setenv("MESSAGGIO_SEND_URL", sender.sandbox.send_url)
    settings.cache_clear()
    handler.deps.cache_clear()
    assert sender.invoke(event) == []
    assert len(sender.sandbox.sends()) == 1
    view = sender.state("refused-1")
    assert view["state"] == "submitted" and view["attempts"] == 2


def test_account_problem_keeps_the_message_and_backs_off(sender: Sender) -> None:
    # -5 for the two-recipient send whatever the order: the balance never covers it
    sender.sandbox.balance = 1
    event = sender.batch([body("acct-1", phone=["380501234567", "380671112233"]), body("acct-ok")])
    failed = sender.invoke(event)
    assert failed == [next(r["messageId"] for r in event["Records"] if "acct-1" in r["body"])]
    assert sender.state("acct-1")["state"] == "pending"
    assert sender.state("acct-ok")["state"] == "submitted"
    # the message was hidden for the back-off, not handed out again at once
    sqs = boto3.client("sqs")
    assert (
        sqs.receive_message(QueueUrl=sender.queue_url, VisibilityTimeout=0).get("Messages") is None
    )


def test_a_whole_batch_of_account_problems_fails_the_invocation(sender: Sender) -> None:
    from messaggio_sender.handler import AccountBlocked

    sender.sandbox.inject(Fault.code(-2, "AUTH ERROR"), times=3)
    with pytest.raises(AccountBlocked):
        sender.invoke(sender.batch([body(), body(), body()]))
    assert len(sender.sandbox.sends()) == 3


def test_a_mixed_batch_returns_exactly_the_failing_records(sender: Sender) -> None:
    sender.sandbox.balance = 2  # enough for the two good ones, never for the three-recipient one
    event = sender.batch(
        [
            body("mix-fail", phone=["380671112233", "380671112234", "380671112235"]),
            "{broken",
            body("mix-ok-1"),
            body("mix-ok-2"),
            body("mix-bad", phone=["0"]),
        ]
    )
    failed = sender.invoke(event)
    fail_id = next(r["messageId"] for r in event["Records"] if "mix-fail" in r["body"])
    assert failed == [fail_id]
    assert sender.state("mix-ok-1")["state"] == "submitted"
    assert sender.state("mix-ok-2")["state"] == "submitted"
    assert sender.state("mix-fail")["state"] == "pending"
    assert sender.state("mix-bad")["state"] == "rejected"


def test_a_batch_that_is_all_retried_is_an_answer_not_an_error(sender: Sender) -> None:
    sender.sandbox.inject(Fault.code(-4, "TEMPORARY ERROR"), times=2)
    event = sender.batch([body(), body()])
    assert sorted(sender.invoke(event)) == sorted(r["messageId"] for r in event["Records"])


@pytest.mark.parametrize("remaining_ms", [1500, 3400])
def test_no_time_left_means_not_claimed_and_retried(sender: Sender, remaining_ms: int) -> None:
    """3.4 s left: past the 2 s safety margin, but not enough for a 0.5 + 1.0 s call."""
    event = sender.batch([body("late-1")])
    failed = sender.invoke(event, remaining_ms=remaining_ms)
    assert failed == [event["Records"][0]["messageId"]]
    assert sender.sandbox.sends() == []
    assert sender.store().lifecycle("late-1") is None
    assert sender.invoke(event, remaining_ms=4000) == []  # 2 s left: enough for a call
    assert len(sender.sandbox.sends()) == 1


def test_a_stale_claim_becomes_unknown_and_is_never_resent(sender: Sender) -> None:
    from messaggio_core.dal.messages import MessageStore, SendMeta
    from tests.conftest import TABLE

    old = MessageStore(TABLE, 90, clock=lambda: 1_000.0)  # claimed long ago, then died
    old.claim("stale-1", "dead", SendMeta("text", "viber", ("380501234567",), 1, "m"))
    assert sender.invoke(sender.batch([body("stale-1")])) == []
    assert sender.sandbox.sends() == []
    assert sender.state("stale-1")["state"] == "unknown"


def test_rate_limit_holds_at_the_platform(sender: Sender, monkeypatch: pytest.MonkeyPatch) -> None:
    from messaggio_sender import handler
    from messaggio_sender.settings import settings

    monkeypatch.setenv("MESSAGGIO_RATE_LIMIT", "100")
    settings.cache_clear()
    handler.deps.cache_clear()
    for _ in range(25):
        event = sender.batch([body(phone=[f"38050{n:07d}", f"38067{n:07d}"]) for n in range(10)])
        assert sender.invoke(event) == []
    assert len(sender.sandbox.sends()) == 250
    assert sender.sandbox.max_per_second() <= 100  # 500 recipients at 100 a second


def test_no_phone_or_text_in_logs(sender: Sender, log_output: io.StringIO) -> None:
    sender.sandbox.inject(Fault.code(-1, "PARAM ERROR (phone 380501234567)"))
    sender.invoke(sender.event("sqs_text.json"))
    sender.invoke(sender.event("sqs_broken_bodies.json"))
    sender.invoke(sender.event("sqs_sms.json"))
    out = log_output.getvalue()
    assert "order-1042" in out  # the logs are there, with the correlation id
    for secret in ("380501234567", "380671112233", "79031234567", "shipped", "булок"):
        assert secret not in out


def test_one_metric_per_outcome(sender: Sender, capsys: pytest.CaptureFixture[str]) -> None:
    sender.invoke(sender.event("sqs_text.json"))
    sender.invoke(sender.event("sqs_text.json"))
    sender.invoke(sender.event("sqs_broken_bodies.json"))
    metrics = [
        json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line
    ]
    totals: dict[str, float] = {}
    for m in metrics:
        for d in m["_aws"]["CloudWatchMetrics"][0]["Metrics"]:
            value = m[d["Name"]]
            totals[d["Name"]] = totals.get(d["Name"], 0) + (
                sum(value) if isinstance(value, list) else value
            )
    assert totals == {"Submitted": 1, "Duplicate": 1, "Rejected": 5}


def test_no_slot_in_time_hands_the_claim_back(
    sender: Sender, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At 1 recipient a second, with 2 s left after the safety margin, only one of three
    sends gets a slot before a 1.5 s call would overrun: the others are not sent, and go
    back to pending for a later invocation."""
    from messaggio_sender import handler
    from messaggio_sender.settings import settings

    monkeypatch.setenv("MESSAGGIO_RATE_LIMIT", "1")
    settings.cache_clear()
    handler.deps.cache_clear()
    event = sender.batch([body("slot-1"), body("slot-2"), body("slot-3")])
    failed = sender.invoke(event, remaining_ms=4000)
    assert len(failed) == 2 and len(sender.sandbox.sends()) == 1
    states = [sender.state(f"slot-{i}") for i in (1, 2, 3)]
    pending = [s for s in states if s["state"] == "pending"]
    assert len(pending) == 2
    assert all("rate limit" in s["reason"] for s in pending)
    retry = {"Records": [r for r in event["Records"] if r["messageId"] in failed]}
    assert len(sender.invoke(retry, remaining_ms=30_000)) == 0
    assert len(sender.sandbox.sends()) == 3


def test_a_new_container_waits_one_window_before_its_first_send(
    sender: Sender, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It cannot know what the container it replaces sent in its last second."""
    import time

    from messaggio_sender import handler
    from messaggio_sender.settings import settings

    monkeypatch.setenv("SENDER_PACER_START_FULL", "true")
    settings.cache_clear()
    handler.deps.cache_clear()
    started = time.monotonic()
    assert sender.invoke(sender.batch([body("cold-1")])) == []
    (request,) = sender.sandbox.sends()
    assert request.received_at - started >= 1.0
    warm = time.monotonic()
    assert sender.invoke(sender.batch([body("cold-2")])) == []
    assert sender.sandbox.sends()[-1].received_at - warm < 1.0  # only once per container
