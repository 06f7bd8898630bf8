"""Fault drills for the callbacks: report chaos, forgery, and the books that must balance."""

from __future__ import annotations

import collections
import itertools
import random
from collections.abc import Callable
from typing import Any

import boto3
import pytest

from messaggio_core.dal.messages import Claimed, MessageStore, SendMeta
from messaggio_core.protocol.reports import RANK, Status, highest
from messaggio_core.protocol.surface import State
from messaggio_local.resources import CALLBACK_TOKEN
from tests.conftest import TABLE
from tests.fixtures.api import call, report_event, status_event
from tests.fixtures.events import Events

pytestmark = pytest.mark.drill

STANDARD = {
    Status.DELIVERED: "0",
    Status.UNDELIVERED: "-1",
    Status.EXPIRED: "-2",
    Status.REJECTED: "-3",
}
EXTENDED = [
    "VIBER_BLOCKED_BY_USER",
    "VIBER_USER_NOT_FOUND",
    "VIBER_NO_DEVICE",
    "VIBER_EXPIRED",
    "VIBER_UNKNOWN_ERROR",
]


def scan() -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = boto3.client("dynamodb").scan(TableName=TABLE)["Items"]
    return sorted(items, key=lambda i: (i["pk"]["S"], i["sk"]["S"]))


def seed(store: MessageStore, ptid: str, msg_ids: dict[str, str]) -> None:
    phones = tuple(msg_ids)
    claim = store.claim(ptid, "c", SendMeta("text", "viber", phones, 1, "m"))
    assert isinstance(claim, Claimed)
    store.settle(ptid, "c", State.SUBMITTED, None, msg_ids=msg_ids, phones=phones)


def test_report_chaos(callbacks: None, events: Events, say: Callable[[str], None]) -> None:
    """300 recipients; each report delivered twice, in shuffled order, a third of the sends
    recorded only after half their reports: every final status is the highest rank reported,
    and no reply is stored twice. The table's stream, pumped through the events function as
    the reports arrive, publishes each recipient's statuses strictly increasing up to its
    final one, and each reply once."""
    rng = random.Random(3)
    store = MessageStore(TABLE, 90)
    sends: dict[str, dict[str, str]] = {}
    reports: list[tuple[str, dict[str, str]]] = []
    expected: dict[tuple[str, str], tuple[Status, set[str]]] = {}
    for s in range(100):
        ptid = f"chaos-{s}"
        sends[ptid] = {f"38050{s:04d}{r:03d}": f"m-{s}-{r}" for r in range(3)}
        viber = s % 4 != 0
        for msg_id in sends[ptid].values():
            statuses: list[Status] = []
            texts: set[str] = set()
            base = {"msg_id": msg_id, "p_transaction_id": ptid}
            if viber:
                for st in rng.sample(
                    [Status.BUFFERED, Status.UNDELIVERED, Status.DELIVERED, Status.SEEN],
                    rng.randint(1, 4),
                ):
                    statuses.append(st)
                    if st is Status.SEEN:
                        reports.append((ptid, {**base, "type": "seen"}))
                    else:
                        fields = {**base, "type": "delivery", "status": st.value}
                        if st is Status.UNDELIVERED:
                            fields["status_extended"] = rng.choice(EXTENDED)
                        reports.append((ptid, fields))
                for n in range(rng.randint(0, 2)):
                    text = rng.choice(["Yes", "No", "Thanks", f"Call me at {n}"])
                    texts.add(text)
                    reports.append((ptid, {**base, "type": "reply", "text": text}))
            else:
                for st in rng.sample(list(STANDARD), rng.randint(1, 2)):
                    statuses.append(st)
                    reports.append((ptid, {**base, "status": STANDARD[st]}))
            expected[(ptid, msg_id)] = (highest(statuses), texts)
    doubled = reports * 2
    rng.shuffle(doubled)
    late = {ptid for i, ptid in enumerate(sends) if i % 3 == 0}
    for ptid, msg_ids in sends.items():
        if ptid not in late:
            seed(store, ptid, msg_ids)
    answers = collections.Counter[int]()
    for n, (_, fields) in enumerate(doubled):
        if n == len(doubled) // 2:
            for late_ptid in late:
                seed(store, late_ptid, sends[late_ptid])
        status, _ = call(report_event(fields, method=rng.choice(["GET", "POST"])))
        answers[status] += 1
        if n % 250 == 0:
            events.pump()
    pumped = events.pump()
    assert not pumped.given_up

    wrong = 0
    replies = 0
    for ptid, msg_ids in sends.items():
        status, view = call(status_event(ptid))
        assert status == 200
        by_msg = {r["msg_id"]: r for r in view["recipients"]}
        assert [r["phone"] for r in view["recipients"]] == list(msg_ids)
        for msg_id in msg_ids.values():
            want, texts = expected[(ptid, msg_id)]
            got = by_msg[msg_id]
            wrong += got["status"] != want.value
            assert sorted(r["text"] for r in got["replies"]) == sorted(texts)
            replies += len(got["replies"])
    published = events.published()  # every one checked against its schema
    order = {s: (RANK[s], i) for i, s in enumerate(Status)}  # `highest`'s order, ties too
    by_recipient: dict[tuple[str, str], list[Status]] = collections.defaultdict(list)
    replies_published = collections.Counter[tuple[str, str, str]]()
    for envelope in published:
        detail = envelope["detail"]
        if envelope["detail-type"] == "Message Status Changed":
            key = (detail["p_transaction_id"], detail["msg_id"])
            by_recipient[key].append(Status(detail["status"]))
        elif envelope["detail-type"] == "Reply Received":
            replies_published[(detail["p_transaction_id"], detail["msg_id"], detail["text"])] += 1
    not_increasing = sum(
        any(order[a] >= order[b] for a, b in itertools.pairwise(seq))
        for seq in by_recipient.values()
    )
    wrong_last = sum(
        not by_recipient[key] or by_recipient[key][-1] != want
        for key, (want, _) in expected.items()
    )
    # a reply whose send was not yet recorded is published unjoined (null id)
    expected_replies = {(p, m, t) for (p, m), (_, texts) in expected.items() for t in texts}
    reply_keys = {
        (p or next(q for q, ms in sends.items() if m in ms.values()), m, t)
        for p, m, t in replies_published
    }
    say(
        f"report chaos: {len(doubled)} reports for 300 recipients, answers {dict(answers)}, "
        f"{replies} replies kept, {wrong} wrong final statuses; events: {len(published)} "
        f"published, {not_increasing} recipients not strictly increasing, {wrong_last} not "
        f"ending at the final status, {sum(c > 1 for c in replies_published.values())} "
        "replies published twice"
    )
    assert not_increasing == 0
    assert wrong_last == 0
    assert all(count == 1 for count in replies_published.values())
    assert reply_keys == expected_replies
    assert sum(replies_published.values()) == replies
    assert answers == {200: len(doubled)}
    assert wrong == 0
    assert max(RANK.values()) == RANK[Status.SEEN]


def test_forgery(callbacks: None, say: Callable[[str], None]) -> None:
    """1,000 callbacks with wrong tokens, disallowed addresses or junk bodies: every one is
    403 or 400, and the table is unchanged."""
    rng = random.Random(5)
    store = MessageStore(TABLE, 90)
    seed(store, "real-1", {"380501234567": "m-real"})
    before = scan()
    good = {
        "msg_id": "m-real",
        "p_transaction_id": "real-1",
        "type": "delivery",
        "status": "delivered",
    }
    answers = collections.Counter[int]()
    kinds = collections.Counter[str]()
    for _ in range(1000):
        kind = rng.choice(["token", "address", "junk"])
        kinds[kind] += 1
        method = rng.choice(["GET", "POST"])
        if kind == "token":
            token = rng.choice(
                [
                    CALLBACK_TOKEN[:-1],
                    CALLBACK_TOKEN + "x",
                    "",
                    "A" * 40,
                    CALLBACK_TOKEN.upper(),
                    f"{rng.getrandbits(128):x}",
                ]
            )
            event = report_event(good, method=method, token=token or "%20")
        elif kind == "address":
            ip = f"{rng.randint(1, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.1"
            if ip.startswith("203.0.113."):
                ip = "198.51.100.1"
            event = report_event(good, method=method, source_ip=ip)
        else:
            junk = rng.choice(
                [
                    {"msg_id": "m-real", "p_transaction_id": "real-1", "status": "9"},
                    {"msg_id": "m-real", "p_transaction_id": "real-1", "type": "click"},
                    {"p_transaction_id": "real-1", "status": "0"},
                    {"msg_id": "m real", "p_transaction_id": "real-1", "status": "0"},
                    {"msg_id": "m-real", "p_transaction_id": "real-1", "type": "reply"},
                    {"msg_id": "m-real", "p_transaction_id": "x" * 65, "status": "0"},
                ]
            )
            event = report_event(junk, method=method)
        status, _ = call(event)
        answers[status] += 1
    after = scan()
    say(f"forgery: {dict(kinds)} -> answers {dict(answers)}; table unchanged: {before == after}")
    assert set(answers) <= {400, 403}
    assert answers[403] == kinds["token"] + kinds["address"]
    assert before == after
