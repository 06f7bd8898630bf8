"""Opt-out events through the real handlers: a STOP or START reply through the callbacks
handler, or an opt-out route's PUT or DELETE, then the table's stream pumped through the
events handler; every event read back off the bus is schema-checked."""

from __future__ import annotations

import copy
from typing import Any

from messaggio_events.domain import DetailType, event_id
from tests.callbacks import conftest as callbacks
from tests.callbacks.conftest import Api, opt_out_event, reply_event
from tests.conftest import load_event
from tests.fixtures.events import Events

api = callbacks.api  # the callbacks handler, as tests/callbacks use it

OPTED_OUT, OPTED_IN = DetailType.OPTED_OUT.value, DetailType.OPTED_IN.value
REPLY = DetailType.REPLY.value
PTID = "order-1042"
A = "380501234567"  # the phone and msg_id of events/callback_reply_stop_post.json
MA = "550e8400-e29b-41d4-a716-446655440000"
B = "380671112233"


def opt_events(found: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, dict[str, Any]]]:
    return [(t, d) for t, d in found if t in (OPTED_OUT, OPTED_IN)]


def no_phone_logged(events: Events, api: Api) -> None:
    output = events.output() + api.output()
    assert A not in output and B not in output


def test_a_stop_reply_then_a_start_publish_opted_out_then_opted_in(
    events: Events, api: Api
) -> None:
    events.send(PTID, {A: MA})
    assert api.invoke(load_event("callback_reply_stop_post.json")).json() == {"stored": True}
    entry = api.invoke(opt_out_event("GET", A)).json()
    events.pump()
    found = events.details()
    assert [t for t, _ in found if t != DetailType.STATE.value] == [REPLY, OPTED_OUT]
    ((_, out),) = opt_events(found)
    assert out == {
        "phone": A,
        "opted_out_at": entry["opted_out_at"],
        "source": "keyword",
        "keyword": "STOP",
        "p_transaction_id": PTID,
        "msg_id": MA,
        "caller": None,
        "event_id": event_id("opted_out", A, entry["opted_out_at"]),
    }

    assert api.invoke(reply_event("Start")).json() == {"stored": True}
    assert api.invoke(opt_out_event("GET", A)).status == 404
    events.pump()
    ((kind, back),) = opt_events(events.details())
    assert kind == OPTED_IN
    assert {k: v for k, v in back.items() if k != "opted_in_at"} == {
        "phone": A,
        "source": "keyword",
        "keyword": "START",
        "p_transaction_id": PTID,
        "msg_id": MA,
        "opted_out_at": entry["opted_out_at"],
        "event_id": event_id("opted_in", A, entry["opted_out_at"]),
    }
    assert back["opted_in_at"] >= entry["opted_out_at"]
    assert events.metric("EventsPublished") == 5  # state, two replies, out, in
    no_phone_logged(events, api)


def test_a_repeated_stop_and_a_redelivered_batch_publish_nothing_new(
    events: Events, api: Api
) -> None:
    """A STOP the platform repeats is stored once; a second STOP (another text) keeps the
    first entry; the stream handing the same records over twice publishes the same events
    with the same ids."""
    events.send(PTID, {A: MA})
    stop = load_event("callback_reply_stop_post.json")
    assert api.invoke(copy.deepcopy(stop)).json() == {"stored": True}
    assert api.invoke(copy.deepcopy(stop)).json() == {"stored": False}  # a repeat
    assert api.invoke(reply_event("stop!")).json() == {"stored": True}
    batch = {"Records": events.records()}
    assert events.invoke(batch) == {"batchItemFailures": []}
    once = opt_events(events.details())
    assert events.invoke(batch) == {"batchItemFailures": []}
    twice = opt_events(events.details())
    assert [t for t, _ in once] == [OPTED_OUT]
    assert twice == once


def test_the_routes_publish_with_source_api(events: Events, api: Api) -> None:
    """PUT /opt-outs/{phone} (e.g. an import) publishes Opted Out with the IAM caller, once
    however often it is repeated; DELETE publishes Opted In; a DELETE of a phone not on the
    list (404) publishes nothing."""
    assert api.invoke(opt_out_event("PUT", "+" + B)).status == 201
    assert api.invoke(opt_out_event("PUT", B)).status == 200
    created = api.invoke(opt_out_event("GET", B)).json()
    assert api.invoke(opt_out_event("DELETE", B)).status == 204
    assert api.invoke(opt_out_event("DELETE", B)).status == 404
    events.pump()
    found = opt_events(events.details())
    assert [t for t, _ in found] == [OPTED_OUT, OPTED_IN]
    out, back = found[0][1], found[1][1]
    assert (out["phone"], out["source"], out["keyword"], out["p_transaction_id"]) == (
        B,
        "api",
        None,
        None,
    )
    assert out["caller"] == created["caller"] and out["caller"]
    assert (back["phone"], back["source"], back["keyword"], back["msg_id"]) == (
        B,
        "api",
        None,
        None,
    )
    assert back["opted_out_at"] == created["opted_out_at"] <= back["opted_in_at"]
    no_phone_logged(events, api)


def test_the_committed_opt_out_stream_event(events: Events) -> None:
    """events/stream_opt_out.json (for `sam local invoke`): a STOP reply and the entry it
    made, then a START reply: its mark on the entry (no event) and the entry removed."""
    events.send(PTID, {A: MA})  # the send the replies join
    answer = events.invoke(load_event("stream_opt_out.json"))
    assert answer == {"batchItemFailures": []}
    found = events.details()
    assert [t for t, _ in found] == [REPLY, OPTED_OUT, REPLY, OPTED_IN]
    out, back = found[1][1], found[3][1]
    assert (out["phone"], out["keyword"], out["msg_id"]) == (A, "STOP", MA)
    assert out["opted_out_at"] == back["opted_out_at"] == "2026-12-02T14:09:36.104Z"
    assert (back["opted_in_at"], back["source"], back["keyword"]) == (
        "2026-12-02T14:12:01.262Z",
        "keyword",
        "START",
    )
    assert [d["phone"] for _, d in found] == [A] * 4


def test_an_entry_removed_by_hand_publishes_opted_in_with_the_stream_time(events: Events) -> None:
    """An entry deleted other than by START or DELETE (the console, a script) carries no mark:
    the event has the stream record's time and a null source."""
    record = next(
        r for r in load_event("stream_opt_out.json")["Records"] if r["eventName"] == "REMOVE"
    )
    del record["dynamodb"]["OldImage"]["opt_in"]
    assert events.invoke({"Records": [record]}) == {"batchItemFailures": []}
    ((kind, back),) = events.details()
    assert kind == OPTED_IN
    assert back["opted_in_at"] == "2026-12-02T14:12:01.000Z"  # ApproximateCreationDateTime
    assert (back["source"], back["keyword"], back["msg_id"]) == (None, None, None)


def test_a_repeated_start_leaves_no_false_opt_in(events: Events, api: Api) -> None:
    """A START the platform repeats after a later STOP marks the new entry but removes
    nothing; the DELETE that later removes it publishes its own source, not the repeat's."""
    events.send(PTID, {A: MA})
    assert api.invoke(reply_event("STOP")).json() == {"stored": True}
    assert api.invoke(reply_event("Start")).json() == {"stored": True}
    assert api.invoke(reply_event("Stop.")).json() == {"stored": True}  # another text: new
    assert api.invoke(reply_event("Start")).json() == {"stored": False}  # the repeat
    assert api.invoke(opt_out_event("GET", A)).status == 200  # still on the list
    events.pump()
    assert [t for t, _ in opt_events(events.details())] == [OPTED_OUT, OPTED_IN, OPTED_OUT]
    assert api.invoke(opt_out_event("DELETE", A)).status == 204
    events.pump()
    ((kind, back),) = opt_events(events.details())
    assert (kind, back["source"], back["keyword"], back["msg_id"]) == (OPTED_IN, "api", None, None)
