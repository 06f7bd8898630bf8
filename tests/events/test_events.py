"""The events function through its real handler: writes made as the sender and the callback
route make them, moto's stream records pumped as Lambda's event source mapping would, and
moto's EventBridge delivering to an SQS queue. Every event read back is schema-checked
(tests/fixtures/events.py)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from messaggio_core.dal.media import MediaStore
from messaggio_core.dal.messages import Claimed, SendMeta
from messaggio_core.protocol.surface import State
from messaggio_events.domain import DetailType
from tests.conftest import TABLE, load_event
from tests.fixtures.events import Events, refuse_entries, stream_settings

STATUS, STATE, REPLY = DetailType.STATUS.value, DetailType.STATE.value, DetailType.REPLY.value
PTID = "order-1042"
A, B = "380501234567", "380671112233"
MA, MB = "550e8400-e29b-41d4-a716-446655440000", "550e8400-e29b-41d4-a716-446655440001"


def statuses(found: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, str, str | None]]:
    return [(d["msg_id"], d["status"], d["previous_status"]) for t, d in found if t == STATUS]


def report_undelivered(events: Events, msg_id: str, code: str) -> None:
    """The platform's `undelivered` report for one of PTID's recipients, with its code."""
    events.report(
        msg_id=msg_id,
        p_transaction_id=PTID,
        type="delivery",
        status="undelivered",
        status_extended=code,
    )


def test_a_send_and_its_reports_publish_in_order(events: Events) -> None:
    events.send(PTID, {A: MA, B: MB})
    events.report(msg_id=MA, p_transaction_id=PTID, type="delivery", status="delivered")
    report_undelivered(events, MB, "VIBER_BLOCKED_BY_USER")
    events.report(msg_id=MA, p_transaction_id=PTID, type="seen")
    events.report(msg_id=MA, p_transaction_id=PTID, type="reply", text="Thanks, got it")
    done = events.pump()
    assert done.errors == 0 and not done.given_up

    found = events.details()
    assert [t for t, _ in found] == [STATE, STATUS, STATUS, STATUS, REPLY]
    state = found[0][1]
    assert state["p_transaction_id"] == PTID
    assert (state["state"], state["previous_state"], state["recipients"]) == ("submitted", None, 2)
    assert state["reason"] is None
    assert statuses(found) == [
        (MA, "delivered", None),
        (MB, "undelivered", None),
        (MA, "seen", "delivered"),
    ]
    delivered, undelivered, seen = (d for t, d in found if t == STATUS)
    assert delivered["phone"] == A and undelivered["phone"] == B
    assert delivered["status_extended"] is None
    assert undelivered["status_extended"] == {
        "code": "VIBER_BLOCKED_BY_USER",
        "reason": "blocked the sender",
    }
    # reported_at is when that status's report arrived, as GET /messages/{id} shows it
    found_send = events.store.lifecycle(PTID)
    assert found_send is not None
    reported = {r.msg_id: r.reported for r in found_send.recipients}
    assert seen["reported_at"] == reported[MA]["seen"]  # type: ignore[index]
    reply = found[-1][1]
    assert (reply["p_transaction_id"], reply["msg_id"], reply["phone"], reply["text"]) == (
        PTID,
        MA,
        A,
        "Thanks, got it",
    )
    assert len({d["event_id"] for _, d in found}) == 5
    assert events.metric("EventsPublished") == 5
    assert events.metric("EventsFailed") == 0
    # phones and texts are in the events, never in the logs
    output = events.output()
    for secret in (A, B, "Thanks, got it"):
        assert secret not in output


def test_replays_and_repeats_publish_nothing_new(events: Events) -> None:
    """A report stored twice is one change; a stream batch handed over twice (at-least-once)
    publishes the same event_ids again; a detail filled in later publishes nothing."""
    events.send(PTID, {A: MA})
    events.report(msg_id=MA, p_transaction_id=PTID, type="delivery", status="undelivered")
    assert not events.report(
        msg_id=MA, p_transaction_id=PTID, type="delivery", status="undelivered"
    )
    assert events.report(
        msg_id=MA,
        p_transaction_id=PTID,
        type="delivery",
        status="undelivered",
        status_extended="VIBER_NO_DEVICE",
    )  # fills in the detail: stored, but the status did not move
    events.report(msg_id=MA, p_transaction_id=PTID, type="reply", text="Stop")
    assert not events.report(msg_id=MA, p_transaction_id=PTID, type="reply", text="Stop")
    batch = {"Records": events.records()}
    assert len(batch["Records"]) == 5  # claim, settle, undelivered, its detail, the reply

    first = events.invoke(batch)
    once = events.details()
    again = events.invoke(batch)
    twice = events.details()
    assert first == again == {"batchItemFailures": []}
    assert [t for t, _ in once] == [STATE, STATUS, REPLY]
    assert statuses(once) == [(MA, "undelivered", None)]
    assert [d["event_id"] for _, d in twice] == [d["event_id"] for _, d in once]
    assert twice == once


def test_a_late_lower_rank_publishes_nothing(events: Events) -> None:
    """`seen` then `delivered` publishes `seen` only; `delivered` then `buffered` publishes
    `delivered` only."""
    events.send(PTID, {A: MA, B: MB})
    events.report(msg_id=MA, p_transaction_id=PTID, type="seen")
    events.report(msg_id=MA, p_transaction_id=PTID, type="delivery", status="delivered")
    events.report(msg_id=MB, p_transaction_id=PTID, type="delivery", status="delivered")
    events.report(msg_id=MB, p_transaction_id=PTID, type="delivery", status="buffered")
    events.pump()
    assert statuses(events.details()) == [(MA, "seen", None), (MB, "delivered", None)]


def test_viber_failed_then_sms_delivered(events: Events) -> None:
    """The fallback case: `undelivered` (with the Viber code), then `delivered` by SMS (a
    standard report) with `undelivered` as the status before."""
    events.send(PTID, {A: MA})
    report_undelivered(events, MA, "VIBER_USER_NOT_FOUND")
    events.report(msg_id=MA, p_transaction_id=PTID, status="0")
    events.pump()
    found = [d for t, d in events.details() if t == STATUS]
    assert [(d["status"], d["previous_status"]) for d in found] == [
        ("undelivered", None),
        ("delivered", "undelivered"),
    ]
    assert found[0]["status_extended"]["code"] == "VIBER_USER_NOT_FOUND"


def test_replies_joined_and_unjoined(events: Events) -> None:
    """A reply to a known send carries its id and phone; one whose send does not exist
    carries a null p_transaction_id (and no phone). Each stored reply publishes once."""
    events.send(PTID, {A: MA})
    events.report(msg_id=MA, p_transaction_id=PTID, type="reply", text="Yes")
    events.report(msg_id=MA, p_transaction_id=PTID, type="reply", text="Yes")
    events.report(msg_id="m-stranger", p_transaction_id="not-ours-7", type="reply", text="Who?")
    events.pump()
    replies = [d for t, d in events.details() if t == REPLY]
    assert [(r["p_transaction_id"], r["phone"], r["text"]) for r in replies] == [
        (PTID, A, "Yes"),
        (None, None, "Who?"),
    ]
    assert replies[1]["msg_id"] == "m-stranger"
    assert "Who?" not in events.output() and "Yes" not in events.logs.getvalue()


def test_report_before_the_send_answer_has_no_phone_yet(events: Events) -> None:
    """The send answer and its first report can race: the status is published at once,
    with a null phone, and not again when the answer lands."""
    events.report(msg_id=MA, p_transaction_id=PTID, type="delivery", status="delivered")
    events.pump()
    events.send(PTID, {A: MA})
    events.pump()
    found = events.details()
    assert [t for t, _ in found] == [STATUS, STATE]
    assert found[0][1]["phone"] is None and found[0][1]["p_transaction_id"] == PTID


def test_send_states_skip_claims_and_unchanged_retries(events: Events) -> None:
    """pending -> (claim) -> pending -> (claim) -> submitted publishes pending, then
    submitted with pending before it; a body rejected before any claim publishes rejected."""
    store = events.store
    meta = SendMeta("sms", "sms", (A,), 1, "m-1")
    for n, (state, reason) in enumerate(
        [(State.PENDING, "platform busy"), (State.PENDING, "still busy"), (State.SUBMITTED, None)]
    ):
        assert isinstance(store.claim(PTID, f"c{n}", meta), Claimed)
        msg_ids = {A: MA} if state is State.SUBMITTED else None
        assert store.settle(PTID, f"c{n}", state, reason, msg_ids=msg_ids, phones=(A,))
    assert store.reject_unsendable("broken-1", "m-2", "phone[0]: must be 7 to 15 digits")
    events.pump()
    found = [d for t, d in events.details() if t == STATE]
    assert [
        (d["p_transaction_id"], d["state"], d["previous_state"], d["reason"]) for d in found
    ] == [
        (PTID, "pending", None, "platform busy"),
        (PTID, "submitted", "pending", None),
        ("broken-1", "rejected", None, "phone[0]: must be 7 to 15 digits"),
    ]
    assert found[-1]["recipients"] == 0


def test_a_dead_lettered_send_publishes_failed(events: Events) -> None:
    """A send whose last allowed attempt failed settles `failed` (the sender's dead-letter
    path): consumers hear it, with the last attempt's reason."""
    store = events.store
    meta = SendMeta("sms", "sms", (A,), 1, "m-1")
    assert isinstance(store.claim(PTID, "c0", meta), Claimed)
    assert store.settle(PTID, "c0", State.PENDING, "platform busy", phones=(A,))
    assert isinstance(store.claim(PTID, "c1", meta), Claimed)
    assert store.settle(PTID, "c1", State.FAILED, "HTTP 503", phones=(A,))
    events.pump()
    found = [
        (d["state"], d["previous_state"], d["reason"]) for t, d in events.details() if t == STATE
    ]
    assert found == [("pending", None, "platform busy"), ("failed", "pending", "HTTP 503")]


def test_media_cache_items_and_claims_publish_nothing(events: Events) -> None:
    """An image's upload claimed and finished, an S3 object pointed at it, and a send
    claimed (in flight): five writes, no event."""
    media = MediaStore(TABLE, 90)
    md5 = "0" * 32
    assert media.claim_upload(md5, "claim-m", stale_before=0, expired_before=None) is None
    media.finish_upload(md5, "claim-m", "i" * 64, None, 1024)
    media.point("bucket", "promo/a.png", md5, '"etag"')
    store = events.store
    assert isinstance(store.claim(PTID, "c1", SendMeta("text", "viber", (A,), None, "m")), Claimed)
    assert len(events.records()) == 4
    done = events.pump()
    assert done.records == 4 and done.errors == 0 and not done.given_up
    assert events.details() == []
    assert events.metric("EventsPublished") == 0


def test_eventbridge_refusing_some_entries_retries_them(
    events: Events, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PutEvents reports two entries as throttled once: they are put again in the same
    invocation, and every event arrives once."""
    refused: set[str] = set()

    def refuse(entry: dict[str, Any]) -> str | None:
        key = entry["Detail"]
        if MB in key and key not in refused:
            refused.add(key)
            return "ThrottlingException"
        return None

    calls = refuse_entries(monkeypatch, refuse)
    events.send(PTID, {A: MA, B: MB})
    events.report(msg_id=MB, p_transaction_id=PTID, type="delivery", status="delivered")
    events.report(msg_id=MA, p_transaction_id=PTID, type="delivery", status="delivered")
    events.report(msg_id=MB, p_transaction_id=PTID, type="seen")
    done = events.pump()
    assert done.invocations == 1 and not done.given_up
    assert calls == [4, 2]  # one call for the batch, one for the two refused entries
    found = events.details()
    assert sorted(statuses(found)) == [
        (MA, "delivered", None),
        (MB, "delivered", None),
        (MB, "seen", "delivered"),
    ]
    assert events.metric("EventsFailed") == 0


def test_entries_that_keep_failing_fail_their_records_only(
    events: Events, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Entries refused on every try fail their own records (batch item failures, one ERROR
    line each, EventsFailed); the stream hands them out again and they go once EventBridge
    takes them, with the same event_id."""
    down = {"on": True}

    def refuse(entry: dict[str, Any]) -> str | None:
        return "InternalFailure" if down["on"] and MB in entry["Detail"] else None

    refuse_entries(monkeypatch, refuse)
    events.send(PTID, {A: MA, B: MB})
    events.report(msg_id=MA, p_transaction_id=PTID, type="delivery", status="delivered")
    events.report(msg_id=MB, p_transaction_id=PTID, type="delivery", status="delivered")
    events.report(msg_id=MA, p_transaction_id=PTID, type="seen")
    batch = {"Records": events.records()}
    sequences = [r["dynamodb"]["SequenceNumber"] for r in batch["Records"]]
    answer = events.invoke(batch)
    assert answer == {"batchItemFailures": [{"itemIdentifier": sequences[3]}]}
    first = events.details()
    assert statuses(first) == [(MA, "delivered", None), (MA, "seen", "delivered")]
    assert events.metric("EventsFailed") == 1
    errors = [line for line in events.log_lines() if line["level"] == "ERROR"]
    assert len(errors) == 1
    assert errors[0]["record_id"] == sequences[3]
    assert errors[0]["correlation_id"] == PTID
    assert "InternalFailure" in errors[0]["reason"]
    assert B not in events.output()

    down["on"] = False
    assert events.invoke(batch) == {"batchItemFailures": []}
    again = events.details()
    lost = next(d for t, d in again if t == STATUS and d["msg_id"] == MB)
    assert lost["status"] == "delivered" and lost["phone"] == B
    # what was published before is published again with the same ids (consumers drop them)
    assert {d["event_id"] for _, d in first} <= {d["event_id"] for _, d in again}


def test_a_whole_batch_failing_is_retried_then_set_aside(
    events: Events, monkeypatch: pytest.MonkeyPatch
) -> None:
    """EventBridge refusing every call (a bus that is gone): each record with an event fails,
    is retried up to the template's MaximumRetryAttempts (bisected when its batch fails
    whole), then described to the on-failure destination; never checkpointed as done."""
    monkeypatch.setenv("EVENT_BUS_NAME", "gone")
    events.send(PTID, {A: MA})
    events.report(msg_id=MA, p_transaction_id=PTID, type="delivery", status="delivered")
    sequences = [r["dynamodb"]["SequenceNumber"] for r in events.records()]
    done = events.pump(max_invocations=3)
    # the claim (no event) is done; the two records with events fail, first as batch item
    # failures, then (alone in their batch) as a failed invocation, which bisects
    assert (done.records, done.errors) == (1, 2)
    assert events.source.pending() == 2
    done = events.pump()
    assert done.given_up == sequences[1:]  # the settle and the report
    assert done.errors > 2 * int(stream_settings()["MaximumRetryAttempts"]) - 2
    assert [f["DDBStreamBatchInfo"]["startSequenceNumber"] for f in events.on_failure] == (
        sequences[1:]
    )
    assert events.details() == []
    assert events.metric("EventsPublished") == 0
    assert events.metric("EventsFailed") >= 2
    errors = [line for line in events.log_lines() if line["level"] == "ERROR"]
    assert errors and all("ResourceNotFoundException" in e["reason"] for e in errors)
    assert A not in events.output()


def test_a_whole_batch_failing_publishes_once_eventbridge_is_back(
    events: Events, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto.events.models import EventsBackend

    real = EventsBackend.put_events
    down = {"calls": 0}

    def put_events(self: Any, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if down["calls"] < 4:
            down["calls"] += 1
            from moto.events.exceptions import ValidationException

            raise ValidationException("service unavailable (the test)")
        return real(self, entries)

    monkeypatch.setattr(EventsBackend, "put_events", put_events)
    events.send(PTID, {A: MA})
    events.report(msg_id=MA, p_transaction_id=PTID, type="delivery", status="delivered")
    done = events.pump()
    assert done.errors >= 1 and not done.given_up
    found = events.details()
    assert [t for t, _ in found] == [STATE, STATUS]
    assert len({d["event_id"] for _, d in found}) == 2


def test_event_ids_are_deterministic(events: Events) -> None:
    """The same change in another stack (another table, another run) has the same id."""
    events.send(PTID, {A: MA})
    events.report(msg_id=MA, p_transaction_id=PTID, type="seen")
    events.pump()
    found = events.details()
    ids = [uuid.UUID(d["event_id"]) for _, d in found]
    assert all(i.version == 5 for i in ids)
    from messaggio_events.domain import event_id

    assert found[1][1]["event_id"] == event_id("status", PTID, MA, "seen")


def test_the_committed_stream_events(events: Events) -> None:
    """events/stream_*.json (for `sam local invoke`): a send's lifecycle publishes its state,
    each status move and the reply; media cache items and a claim publish nothing."""
    events.send(PTID, {A: MA, B: MB})  # the send the lifecycle's reports join
    assert events.invoke(load_event("stream_send_lifecycle.json")) == {"batchItemFailures": []}
    found = events.details()
    assert [t for t, _ in found] == [STATE, STATUS, STATUS, STATUS, STATUS, REPLY]
    assert statuses(found) == [
        (MA, "delivered", None),
        (MB, "undelivered", None),
        (MB, "delivered", "undelivered"),
        (MA, "seen", "delivered"),
    ]
    assert [d["phone"] for t, d in found if t != STATE] == [A, B, B, A, A]
    assert events.invoke(load_event("stream_media_and_claim.json")) == {"batchItemFailures": []}
    assert events.details() == []
