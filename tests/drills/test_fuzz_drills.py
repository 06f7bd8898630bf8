"""Fuzz drills: hypothesis-made SQS bodies and report bodies through the real handlers
(at least 5,000 each): no unhandled exception, no 5xx."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from messaggio_callbacks.settings import settings as callback_settings
from messaggio_sandbox.checks import SINGLE_VALUED
from messaggio_sender import handler as sender_handler
from messaggio_sender import sending
from tests.fixtures.api import call, report_event, rest_event
from tests.fixtures.sender import Sender

pytestmark = pytest.mark.drill

FUZZ = settings(
    max_examples=500,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
# Every single-valued parameter the platform knows, the recipients, the event's own "image" and
# a name nobody knows.
FIELDS = [*SINGLE_VALUED, "phone", "image", "extra"]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)
plausible = st.fixed_dictionaries(
    {
        "sending_method": st.sampled_from(["viber", "sms", "whatsapp", ""]),
        "from": st.text(max_size=13),
        "phone": st.lists(st.from_regex(r"\+?[0-9 ]{5,17}", fullmatch=True), max_size=3),
    },
    optional={
        name: json_values | st.text(max_size=60)
        for name in FIELDS
        if name not in ("sending_method", "from", "phone")
    },
)
VALID: dict[str, Any] = {
    "sending_method": "viber",
    "from": "MyShop",
    "phone": ["380501234567"],
    "txt": "Hello",
}


@st.composite
def nearly_valid(draw: st.DrawFn) -> str:
    """A valid body with one field changed, added or removed (some stay valid and are sent)."""
    body = dict(VALID)
    body["p_transaction_id"] = draw(st.from_regex(r"fz-[a-z0-9]{8}", fullmatch=True))
    name = draw(st.sampled_from(FIELDS))
    action = draw(st.sampled_from(["set", "drop", "text"]))
    if action == "drop":
        body.pop(name, None)
    elif action == "text":
        body[name] = draw(st.text(max_size=20))
    else:
        body[name] = draw(json_values)
    return json.dumps(body)


bodies = st.one_of(
    nearly_valid(),
    st.text(max_size=80),
    plausible.map(json.dumps),
    st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=8).map(json.dumps),
)


@pytest.fixture
def no_bugs(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[BaseException]]:
    """Any exception out of the domain code is a bug (Powertools would turn it into a
    silent batch item failure), so catch and keep them."""
    bugs: list[BaseException] = []
    real = sending.send

    async def watched(*args: Any, **kwargs: Any) -> Any:
        try:
            return await real(*args, **kwargs)
        except BaseException as exc:
            bugs.append(exc)
            raise

    monkeypatch.setattr(sender_handler, "send", watched)
    yield bugs


def test_fuzzed_send_requests(
    sender: Sender, no_bugs: list[BaseException], say: Callable[[str], None]
) -> None:
    counts: dict[str, int] = {"bodies": 0, "failed": 0}

    @FUZZ
    @given(batch=st.lists(bodies, min_size=10, max_size=10))
    def run(batch: list[str]) -> None:
        event = {
            "Records": [
                {
                    "messageId": f"fz-{counts['bodies'] + i}",
                    "receiptHandle": "rh",
                    "body": b,
                    "attributes": {},
                    "messageAttributes": {},
                    "md5OfBody": "",
                    "eventSource": "aws:sqs",
                    "eventSourceARN": sender.queue_arn,
                    "awsRegion": "eu-west-1",
                }
                for i, b in enumerate(batch)
            ]
        }
        failed = sender.invoke(event)
        counts["bodies"] += len(batch)
        counts["failed"] += len(failed)

    run()
    say(
        f"fuzzed send requests: {counts['bodies']} bodies, {counts['failed']} handed back "
        f"(in flight or retried), {len(sender.sandbox.sends())} reached the sandbox, "
        f"{len(no_bugs)} unhandled exceptions"
    )
    assert counts["bodies"] >= 5000
    assert no_bugs == []


report_fields = st.dictionaries(
    st.sampled_from(
        ["msg_id", "p_transaction_id", "type", "status", "status_extended", "text", "x"]
    ),
    st.text(max_size=30)
    | st.sampled_from(
        ["delivery", "seen", "reply", "0", "-1", "delivered", "undelivered", "m-1", "order-1"]
    ),
    max_size=7,
)


def test_fuzzed_reports(
    table: str, secret: str, monkeypatch: pytest.MonkeyPatch, say: Callable[[str], None]
) -> None:
    monkeypatch.setenv("CALLBACK_ALLOWED_CIDRS", "")
    callback_settings.cache_clear()
    answers: dict[int, int] = {}

    @settings(FUZZ, max_examples=5000)
    @given(
        fields=report_fields,
        method=st.sampled_from(["GET", "POST", "RAW"]),
        raw=st.binary(max_size=200),
    )
    def run(fields: dict[str, str], method: str, raw: bytes) -> None:
        if method == "RAW":
            event = report_event({}, method="POST")
            event["body"] = "".join(f"%{b:02X}" if b % 3 else quote(chr(b)) for b in raw)
        else:
            event = report_event(fields, method=method)
        status, _ = call(event)
        answers[status] = answers.get(status, 0) + 1
        assert status < 500

    run()
    # and routes nobody should call
    for method, path in [("DELETE", "/messages/x"), ("GET", "/nowhere"), ("PUT", "/callbacks/t")]:
        status, _ = call(rest_event(method, path, path, {}))
        assert status < 500
    callback_settings.cache_clear()
    say(f"fuzzed reports: {sum(answers.values())} calls, answers {answers}")
    assert sum(answers.values()) >= 5000
