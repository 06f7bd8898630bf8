"""Section E: delivery reports sent to a real local receiver, by GET and POST."""

from __future__ import annotations

import time
from collections import Counter

import pytest

from messaggio_sandbox import SandboxPlatform, Scenario


@pytest.fixture
def reporting(sandbox, receiver):
    sandbox.callback_url = receiver.url
    return sandbox


def _send(client, phones=None, sending_method="viber", p_transaction_id="order-1042"):
    answer = client.send(
        phones=phones or [client.PHONE],
        sending_method=sending_method,
        dlr="1",
        p_transaction_id=p_transaction_id,
    )
    assert answer.code == 0
    return dict(answer.msg_ids)


def _fields_received(receiver, count):
    calls = receiver.wait_for(count)
    assert len(calls) == count, calls
    return [call.fields for call in calls]


VIBER_SCENARIOS = [
    (Scenario.delivered(), [{"type": "delivery", "status": "delivered"}]),
    (
        Scenario.undelivered(),
        [{"type": "delivery", "status": "undelivered", "status_extended": "VIBER_USER_NOT_FOUND"}],
    ),
    (
        Scenario.undelivered(status_extended="VIBER_BLOCKED_BY_USER"),
        [{"type": "delivery", "status": "undelivered", "status_extended": "VIBER_BLOCKED_BY_USER"}],
    ),
    (
        Scenario.buffered_then_delivered(),
        [{"type": "delivery", "status": "buffered"}, {"type": "delivery", "status": "delivered"}],
    ),
    (Scenario.seen(), [{"type": "delivery", "status": "delivered"}, {"type": "seen"}]),
    (
        Scenario.reply(text="Дякую!"),
        [
            {"type": "delivery", "status": "delivered"},
            {"type": "seen"},
            {"type": "reply", "text": "Дякую!"},
        ],
    ),
    (
        Scenario.fallback(),
        [
            {
                "type": "delivery",
                "status": "undelivered",
                "status_extended": "VIBER_USER_NOT_FOUND",
            },
            {"type": "delivery", "status": "delivered"},
        ],
    ),
    (
        Scenario(["expired"]),
        [{"type": "delivery", "status": "undelivered", "status_extended": "VIBER_EXPIRED"}],
    ),
    (
        Scenario([{"type": "delivery", "status": "undelivered", "status_extended": "X"}]),
        [{"type": "delivery", "status": "undelivered", "status_extended": "X"}],
    ),
]


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize(("scenario", "expected"), VIBER_SCENARIOS)
def test_viber_extended_reports(client, reporting, receiver, method, scenario, expected):
    reporting.report_method = method
    reporting.scenario = scenario
    msg_ids = _send(client)
    assert reporting.wait_reports(5)
    ids = {"msg_id": msg_ids[client.PHONE], "p_transaction_id": "order-1042"}
    assert _fields_received(receiver, len(expected)) == [{**ids, **e} for e in expected]
    assert {call.method for call in receiver.calls} == {method}
    assert {call.path for call in receiver.calls} == {"/callbacks/tok"}
    assert all(attempt.status == 200 for attempt in reporting.report_log)


@pytest.mark.parametrize(
    ("scenario", "statuses"),
    [
        (Scenario.delivered(), ["0"]),
        (Scenario.undelivered(), ["-1"]),
        (Scenario(["expired"]), ["-2"]),
        (Scenario(["rejected"]), ["-3"]),
        (Scenario.reply(), ["0"]),  # SMS has no seen and no reply
        (Scenario.fallback(), ["-1", "0"]),
    ],
)
def test_sms_standard_reports(client, reporting, receiver, scenario, statuses):
    reporting.scenario = scenario
    msg_ids = _send(client, sending_method="sms")
    assert reporting.wait_reports(5)
    fields = _fields_received(receiver, len(statuses))
    ids = {"msg_id": msg_ids[client.PHONE], "p_transaction_id": "order-1042"}
    assert fields == [{**ids, "status": status} for status in statuses]
    assert all("type" not in f for f in fields)


def test_reports_for_every_phone_and_per_phone_scenario(client, reporting, receiver):
    reporting.scenario_for(client.PHONE2, Scenario.undelivered("VIBER_NO_DEVICE"))
    msg_ids = _send(client, phones=[client.PHONE, client.PHONE2])
    assert reporting.wait_reports(5)
    by_msg = {f["msg_id"]: f for f in _fields_received(receiver, 2)}
    assert by_msg[msg_ids[client.PHONE]]["status"] == "delivered"
    assert by_msg[msg_ids[client.PHONE2]]["status_extended"] == "VIBER_NO_DEVICE"


def test_none_scenario_and_no_dlr_send_no_reports(client, reporting, receiver):
    assert client.send(p_transaction_id="x").code == 0  # dlr absent
    reporting.scenario = Scenario.none()
    _send(client)
    assert reporting.wait_reports(2)
    time.sleep(0.2)
    assert receiver.calls == []
    assert reporting.report_log == []


def test_without_callback_url_nothing_is_sent(client, receiver):
    _send(client)
    assert client.platform.wait_reports(1)
    time.sleep(0.1)
    assert receiver.calls == []


def test_duplicates(client, reporting, receiver):
    reporting.scenario = Scenario(["delivered", "seen"], duplicates=True)
    _send(client)
    assert reporting.wait_reports(5)
    fields = _fields_received(receiver, 4)
    assert [f["type"] for f in fields] == ["delivery", "delivery", "seen", "seen"]


def test_shuffle_is_seeded(client, receiver):
    phones = [f"38050000000{i}" for i in range(4)]

    def run(seed):
        with SandboxPlatform(seed=seed, callback_url=receiver.url) as platform:
            platform.scenario = Scenario.reply(text="ok")
            platform.scenario.shuffle = True
            msg_ids = _send(client.on(platform), phones=phones)
            assert platform.wait_reports(5)
        order = {msg_id: phone for phone, msg_id in msg_ids.items()}
        with receiver.lock:
            calls = [call.fields for call in receiver.calls]
            receiver.calls.clear()
        return [(order[f["msg_id"]], f["type"]) for f in calls]

    first, again, other = run(7), run(7), run(8)
    natural = [(phone, t) for phone in phones for t in ("delivery", "seen", "reply")]
    assert Counter(first) == Counter(natural)
    assert first != natural
    assert first == again
    assert other != first


def test_delay_between_reports(client, reporting, receiver):
    reporting.scenario = Scenario(["delivered", "seen"], delay=0.15)
    start = time.monotonic()
    _send(client)
    assert reporting.wait_reports(5)
    calls = receiver.wait_for(2)
    assert calls[0].at - start >= 0.15
    assert calls[1].at - calls[0].at >= 0.14


def test_retry_until_200(client, reporting, receiver):
    receiver.answers = [500, 503]
    msg_ids = _send(client)
    assert reporting.wait_reports(5)
    calls = receiver.wait_for(3)
    assert len(calls) == 3
    assert {call.fields["msg_id"] for call in calls} == {msg_ids[client.PHONE]}
    assert [a.status for a in reporting.report_log] == [500, 503, 200]
    assert [a.attempt for a in reporting.report_log] == [1, 2, 3]
    assert calls[1].at - calls[0].at >= 0.05  # the first test-scale gap


@pytest.mark.parametrize("status", [400, 404])
def test_400_and_404_stop_the_retries(client, reporting, receiver, status):
    receiver.answers = [status]
    _send(client)
    assert reporting.wait_reports(5)
    time.sleep(0.2)
    assert len(receiver.calls) == 1
    assert reporting.report_log[0].final


def test_gives_up_after_the_gaps(client, reporting, receiver):
    receiver.answers = [500] * 10
    _send(client)
    assert reporting.wait_reports(5)
    assert len(receiver.calls) == 4  # 1 + the three default gaps
    assert reporting.report_log[-1].final
    assert not reporting.report_log[-1].delivered


def test_unreachable_callback_is_retried_and_logged(client):
    platform = client.platform
    platform.callback_url = "http://127.0.0.1:9/unreachable"  # discard port: refused
    _send(client)
    assert platform.wait_reports(5)
    log = platform.report_log
    assert len(log) == 4
    assert all(a.status is None and a.error for a in log)


def test_hand_made_report(client, reporting, receiver):
    attempt = reporting.report("m-1", "order-9", type="reply", text="Так")
    assert attempt.status == 200
    assert _fields_received(receiver, 1) == [
        {"msg_id": "m-1", "p_transaction_id": "order-9", "type": "reply", "text": "Так"}
    ]
    attempt = reporting.report("m-2", status=-3, report_method="POST")
    assert attempt.method == "POST"
    assert receiver.wait_for(2)[1].fields == {"msg_id": "m-2", "status": "-3"}


def test_reset_forgets_overrides_and_log(client, reporting, receiver):
    reporting.scenario = Scenario.seen()
    reporting.scenario_for(client.PHONE, Scenario.none())
    _send(client)
    assert reporting.wait_reports(5)
    assert receiver.calls == []
    reporting.reset()
    _send(client)
    assert reporting.wait_reports(5)
    assert [f["status"] for f in _fields_received(receiver, 1)] == ["delivered"]


def test_callback_url_keeps_its_own_query(client, reporting, receiver):
    reporting.callback_url = receiver.url + "?token=abc"
    _send(client)
    assert reporting.wait_reports(5)
    assert receiver.wait_for(1)[0].fields["token"] == "abc"
