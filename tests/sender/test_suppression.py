"""Opt-out that holds: STOP replies (the callbacks handler) and the sender (its handler) over
moto and the sandbox platform; no later send reaches a phone on the list."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from messaggio_core.dal.clients import dynamodb
from messaggio_sender.sending import batch_phones
from tests.fixtures.api import call, report_event, rest_event
from tests.fixtures.sender import Sender, body

PHONE = "380501234567"
OTHER = "380671112233"


def reply(sender: Sender, ptid: str, phone: str, text: str) -> None:
    """The platform's reply report for `phone` of an accepted send."""
    (msg_id,) = [
        r.msg_ids[phone]
        for r in sender.sandbox.sends()
        if r.param("p_transaction_id") == ptid.encode()
    ]
    status, answer = call(
        report_event(
            {"msg_id": msg_id, "p_transaction_id": ptid, "type": "reply", "text": text}, "POST"
        )
    )
    assert (status, answer) == (200, {"stored": True})


def sent_to(sender: Sender) -> list[list[str]]:
    """The phones of every request the platform accepted, in order."""
    return [[v.decode() for k, v in r.params if k == "phone"] for r in sender.sandbox.sends()]


@pytest.fixture
def requests_made() -> Iterator[Counter[str]]:
    """Every DynamoDB request the product's client makes, by operation."""
    ops: Counter[str] = Counter()

    def count(model: Any, **kwargs: Any) -> None:
        ops[str(model.name)] += 1

    client = dynamodb()
    client.meta.events.register("before-call.dynamodb", count)
    yield ops
    client.meta.events.unregister("before-call.dynamodb", count)


def test_stop_then_send_is_rejected_opted_out_and_never_sent(
    sender: Sender, callbacks: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert sender.invoke(sender.batch([body("first", phone=[PHONE])])) == []
    reply(sender, "first", PHONE, "Stop!")

    assert sender.invoke(sender.batch([body("second", phone=[PHONE])])) == []

    assert sent_to(sender) == [[PHONE]]  # only the first
    view = sender.state("second")
    assert (view["state"], view["reason"]) == ("rejected", "opted_out")
    (recipient,) = view["recipients"]
    assert (recipient["phone"], recipient["msg_id"], recipient["status"]) == (
        PHONE,
        None,
        "opted_out",
    )
    emitted = [
        json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line
    ]
    assert [m["SuppressedRecipients"] for m in emitted if "SuppressedRecipients" in m] == [[1.0]]


def test_stop_then_start_then_send_is_sent(sender: Sender, callbacks: None) -> None:
    sender.invoke(sender.batch([body("first", phone=[PHONE])]))
    reply(sender, "first", PHONE, "STOP")
    reply(sender, "first", PHONE, "start")

    assert sender.invoke(sender.batch([body("second", phone=[PHONE])])) == []

    assert sent_to(sender) == [[PHONE], [PHONE]]
    assert sender.state("second")["state"] == "submitted"


def test_a_multi_recipient_send_goes_to_the_others(sender: Sender, callbacks: None) -> None:
    sender.invoke(sender.batch([body("first", phone=[PHONE])]))
    reply(sender, "first", PHONE, "СТОП")

    third = "79031234567"
    assert sender.invoke(sender.batch([body("both", phone=[OTHER, PHONE, third])])) == []

    assert sent_to(sender)[-1] == [OTHER, third]  # signed and accepted without it
    (request,) = [r for r in sender.sandbox.sends() if r.param("p_transaction_id") == b"both"]
    assert request.code == 0
    view = sender.state("both")
    assert (view["state"], view["reason"]) == ("submitted", None)
    shown = [(r["phone"], r["msg_id"], r["status"]) for r in view["recipients"]]
    assert shown == [
        (OTHER, request.msg_ids[OTHER], "submitted"),
        (PHONE, None, "opted_out"),
        (third, request.msg_ids[third], "submitted"),
    ]


def test_a_stop_that_arrives_while_the_send_waits_in_the_queue_is_honoured(
    sender: Sender, callbacks: None
) -> None:
    sender.invoke(sender.batch([body("first", phone=[PHONE])]))
    # enqueued (and received by the poller) before the subscriber answers...
    queued = sender.batch([body("queued", phone=[PHONE]), body("other", phone=[OTHER])])
    reply(sender, "first", PHONE, "unsubscribe")

    # ...and claimed after: the list is read at the claim, not when the send was enqueued
    assert sender.invoke(queued) == []

    assert sent_to(sender) == [[PHONE], [OTHER]]
    assert sender.state("queued")["reason"] == "opted_out"


def test_an_api_put_suppresses_and_a_delete_resumes(sender: Sender, callbacks: None) -> None:
    path = f"/opt-outs/+{PHONE}"
    put = rest_event("PUT", "/opt-outs/{phone}", path, {"phone": f"+{PHONE}"})
    assert call(put)[0] == 201
    sender.invoke(sender.batch([body("after-put", phone=[f"{PHONE}"])]))
    assert sender.state("after-put")["reason"] == "opted_out"

    delete = rest_event("DELETE", "/opt-outs/{phone}", path, {"phone": f"+{PHONE}"})
    assert call(delete)[0] == 204
    sender.invoke(sender.batch([body("after-delete", phone=[PHONE])]))
    assert sender.state("after-delete")["state"] == "submitted"
    assert sent_to(sender) == [[PHONE]]


def test_one_batch_one_read_and_no_extra_write(
    sender: Sender, callbacks: None, requests_made: Counter[str]
) -> None:
    """25 sends to 30 phones, two of them on the list: one BatchGetItem for the batch, and
    per send the same claim and settle as without the list."""
    for phone in ("380500000001", "380500000002"):
        assert (
            call(rest_event("PUT", "/opt-outs/{phone}", f"/opt-outs/{phone}", {"phone": phone}))[0]
            == 201
        )
    bodies = [body(f"b-{i}", phone=[f"3805000000{i:02d}"]) for i in range(20)]
    bodies += [body(f"m-{i}", phone=[f"3806700000{i}", f"3806800000{i}"]) for i in range(5)]
    event = sender.batch(bodies)
    requests_made.clear()

    assert sender.invoke(event) == []

    assert requests_made["BatchGetItem"] == 1
    assert requests_made["UpdateItem"] == 2 * 25  # claim + settle (or reject) each
    assert set(requests_made) == {"BatchGetItem", "UpdateItem"}
    assert sender.state("b-1")["reason"] == "opted_out"
    assert sender.state("b-2")["reason"] == "opted_out"
    assert len(sender.sandbox.sends()) == 23


def test_a_batch_of_broken_bodies_reads_nothing(
    sender: Sender, callbacks: None, requests_made: Counter[str]
) -> None:
    sender.invoke(sender.event("sqs_broken_bodies.json"))
    assert requests_made["BatchGetItem"] == 0


def test_when_the_list_cannot_be_read_nothing_is_sent_and_the_batch_comes_back(
    sender: Sender, callbacks: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from messaggio_core.dal.common import StorageError
    from messaggio_core.dal.optouts import OptOutStore

    reads = Counter[str]()

    def unavailable(self: OptOutStore, phones: object) -> frozenset[str]:
        reads["suppressed"] += 1
        raise StorageError("ProvisionedThroughputExceededException")

    monkeypatch.setattr(OptOutStore, "suppressed", unavailable)
    event = sender.batch([body("r-1"), body("r-2", phone=[OTHER])])

    failed = sender.invoke(event)

    assert sorted(failed) == sorted(r["messageId"] for r in event["Records"])
    assert sender.sandbox.sends() == []
    assert reads["suppressed"] == 1  # not once per send
    assert (
        boto3.client("dynamodb")
        .get_item(TableName="messages-test", Key={"pk": {"S": "TX#r-1"}, "sk": {"S": "SEND"}})
        .get("Item")
        is None
    )  # nothing claimed: the retry is a first try


def test_the_batch_read_asks_for_every_phone_as_digits() -> None:
    """'+' written or not, and broken bodies contributing what they can."""
    bodies = [
        json.dumps(body("a", phone=[f"+{PHONE}", OTHER])),
        json.dumps(body("b", phone=[PHONE, "not-a-phone", 7])),
        "not json",
        json.dumps(["a", "list"]),
        json.dumps({"phone": "380931234567"}),  # not a list: not a send
    ]
    assert batch_phones(bodies) == {PHONE, OTHER}


def test_every_record_of_a_batch_is_judged_by_the_same_read(
    sender: Sender, callbacks: None
) -> None:
    sender.invoke(sender.batch([body("first", phone=[PHONE])]))
    reply(sender, "first", PHONE, "stop")
    bodies = [body(f"s-{i}", phone=[PHONE]) for i in range(5)] + [body("o", phone=[OTHER])]
    sender.invoke(sender.batch(bodies))
    states = [sender.state(f"s-{i}") for i in range(5)]
    assert {(s["state"], s["reason"]) for s in states} == {("rejected", "opted_out")}
    assert sent_to(sender) == [[PHONE], [OTHER]]
    assert sender.state("o")["state"] == "submitted"


def test_a_send_written_with_a_plus_is_suppressed_all_the_same(
    sender: Sender, callbacks: None
) -> None:
    put = rest_event("PUT", "/opt-outs/{phone}", f"/opt-outs/{PHONE}", {"phone": PHONE})
    assert call(put)[0] == 201

    assert sender.invoke(sender.batch([body("plus", phone=[f"+{PHONE}", OTHER])])) == []

    assert sent_to(sender) == [[OTHER]]
    assert sender.state("plus")["recipients"][0]["status"] == "opted_out"
