"""The poison drill: hypothesis-made hostile bodies (deep nesting, huge arrays, control
characters, wrong types everywhere) through the real handlers of the sender, the media
function and the callbacks, 1,000 to each. Every one is recorded or refused once, none is
retried, nothing answers 5xx, and no log line is over 16 KB."""

from __future__ import annotations

import io
import json
from collections import Counter
from collections.abc import Callable
from typing import Any, Final

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from messaggio_callbacks.settings import settings as callback_settings
from messaggio_core.protocol.send import SendBody
from tests.callbacks.conftest import seed_send
from tests.conftest import MEDIA_BUCKET
from tests.fixtures.api import call, report_event, rest_event, status_event
from tests.fixtures.faults import log_lines
from tests.fixtures.media import Media
from tests.fixtures.sender import Sender, sqs_record

# A thousand bodies of up to 256 KiB each take minutes on a busy 2-CPU runner: more than the
# default 300 s per test, which would fail the drill for the machine's load, not the product.
pytestmark = [pytest.mark.drill, pytest.mark.timeout(900)]

BODIES: Final = 1000
BATCH: Final = 10
LOG_LINE_MAX: Final = 16 * 1024
SQS_BODY_MAX: Final = 256 * 1024
POISON = settings(
    max_examples=BODIES // BATCH,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)

# -- hostile values ------------------------------------------------------------------------

nasty_chars = st.one_of(
    st.characters(min_codepoint=0, max_codepoint=0x1F),
    st.sampled_from(["\x7f", "\u2028", "\u202e", "\ufeff", "\ud800", "\udfff", "\U0001f600"]),
    st.characters(),
)
nasty_text = st.text(alphabet=nasty_chars, max_size=40)
wrong = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),  # NaN and Infinity too: Python's json writes and reads them
    nasty_text,
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
OPENERS: Final = ["[", '{"a":', '{"phone":[', '{"Records":[', "[{", '"\\u0000', "-"]


@st.composite
def deep(draw: st.DrawFn) -> str:
    """An opener repeated up to 100,000 times, closed or not (the parser's recursion)."""
    opener = draw(st.sampled_from(OPENERS))
    depth = draw(st.integers(1_000, (SQS_BODY_MAX - 10) // (2 * len(opener))))
    closer = {"[": "]", "{": "}"}
    closing = "".join(closer.get(c, "") for c in reversed(opener)) if draw(st.booleans()) else ""
    return opener * depth + closing * depth


@st.composite
def deep_value(draw: st.DrawFn) -> Any:
    """A well-formed JSON value nested just inside what the parser accepts."""
    depth = draw(st.integers(100, 900))
    return json.loads("[" * depth + json.dumps(draw(wrong)) + "]" * depth)


def huge_array(draw: st.DrawFn) -> list[Any]:
    item = draw(st.one_of(st.sampled_from(["380501234567", "", 0, None]), nasty_text))
    return [item] * draw(st.integers(1_000, 20_000))


def fit(body: str) -> str:
    """SQS carries at most 256 KiB: a longer body could never reach a function."""
    return body if len(body.encode(errors="surrogatepass")) <= SQS_BODY_MAX else body[:50_000]


# -- the sender ----------------------------------------------------------------------------

SEND_FIELDS: Final = [field.alias or name for name, field in SendBody.model_fields.items()]


@st.composite
def hostile_send(draw: st.DrawFn) -> str:
    shape = draw(st.sampled_from(["deep", "deep-field", "huge", "control", "wrong", "numbers"]))
    base: dict[str, Any] = {
        "sending_method": "viber",
        "from": "MyShop",
        "phone": ["380501234567"],
        "txt": "Hello",
    }
    if shape == "deep":
        return draw(deep())
    field = draw(st.sampled_from(SEND_FIELDS))
    if shape == "deep-field":
        base[field] = draw(deep_value())
    elif shape == "huge":
        long_text = "x" * draw(st.integers(3000, 200_000))
        base[field] = huge_array(draw) if draw(st.booleans()) else long_text
    elif shape == "control":
        for name in ("from", "txt", "expiry_txt", "button_text", "button_link", "image"):
            base[name] = draw(nasty_text)
        base["phone"] = [draw(nasty_text)]
    elif shape == "wrong":
        base = {name: draw(wrong) for name in draw(st.sets(st.sampled_from(SEND_FIELDS)))}
    else:
        digits = "9" * draw(st.integers(4_301, 20_000))  # past Python's int parsing limit
        return fit(json.dumps(base)[:-1] + f', "dlr_timeout": {digits}}}')
    return fit(json.dumps(base, ensure_ascii=draw(st.booleans())))


def poison_batches(
    bodies: st.SearchStrategy[str], arn: str, invoke: Callable[[dict[str, Any]], list[str]]
) -> tuple[list[str], list[str]]:
    """BODIES hostile bodies, BATCH at a time, as SQS records of the queue `arn` through
    `invoke`: every record's id, and the ids it answered to retry."""
    ids: list[str] = []
    retried: list[str] = []

    @POISON
    @given(batch=st.lists(bodies, min_size=BATCH, max_size=BATCH))
    def run(batch: list[str]) -> None:
        records = [sqs_record(f"poison-{len(ids) + i}", b, arn) for i, b in enumerate(batch)]
        ids.extend(r["messageId"] for r in records)
        retried.extend(invoke({"Records": records}))

    run()
    return ids, retried


def long_lines(output: io.StringIO) -> list[int]:
    return [
        len(line.encode(errors="surrogatepass"))
        for line in output.getvalue().splitlines()
        if len(line.encode(errors="surrogatepass")) > LOG_LINE_MAX
    ]


def test_poison_to_the_sender(
    sender: Sender, log_output: io.StringIO, say: Callable[[str], None]
) -> None:
    ids, retried = poison_batches(hostile_send(), sender.queue_arn, sender.invoke)

    outcomes = [
        line
        for line in log_lines(log_output)
        if line["message"] in ("send rejected", "send processed", "send needs attention")
    ]
    per_record = Counter(line["message_id"] for line in outcomes)
    results = Counter(line["result"] for line in outcomes)
    stored = Counter(
        (found.send.state if (found := sender.store().lifecycle(line["correlation_id"])) else None)
        for line in outcomes
    )
    errors = [line for line in log_lines(log_output) if line["level"] == "ERROR"]
    say(
        f"poison to the sender: {len(ids)} bodies, results {dict(results)}, stored {dict(stored)}, "
        f"{len(retried)} retried, {len(errors)} ERROR lines, "
        f"longest log line {max(map(len, log_output.getvalue().splitlines()))} characters"
    )
    assert len(ids) == BODIES
    assert retried == []
    assert errors == []
    assert set(per_record) == set(ids) and set(per_record.values()) == {1}  # each once
    assert set(stored) <= {"rejected", "submitted"}  # each has its record
    assert long_lines(log_output) == []


# -- the media function --------------------------------------------------------------------


@st.composite
def hostile_notification(draw: st.DrawFn) -> str:
    shape = draw(st.sampled_from(["deep", "huge", "wrong", "names", "deep-field"]))
    record: dict[str, Any] = {
        "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": MEDIA_BUCKET}, "object": {"key": "promo/a.png"}},
    }
    if shape == "deep":
        return draw(deep())
    if shape == "huge":
        return fit(json.dumps({"Records": huge_array(draw)}))
    if shape == "wrong":
        record = {
            "eventName": draw(wrong | st.just("ObjectCreated:Put")),
            "s3": draw(wrong | st.just({"bucket": draw(wrong), "object": {"key": draw(wrong)}})),
        }
    elif shape == "names":
        record["s3"]["bucket"]["name"] = draw(nasty_text | st.just(MEDIA_BUCKET))
        record["s3"]["object"]["key"] = draw(nasty_text)
    else:
        record["s3"]["object"]["key"] = draw(deep_value())
    records = [record] * draw(st.integers(0, 12))
    return fit(json.dumps({"Records": records}, ensure_ascii=draw(st.booleans())))


def test_poison_to_the_media_function(
    media: Media, log_output: io.StringIO, say: Callable[[str], None]
) -> None:
    arn = "arn:aws:sqs:eu-west-1:123456789012:messaggio-connector-media"
    ids, retried = poison_batches(hostile_notification(), arn, media.invoke)

    lines = [line for line in log_lines(log_output) if "message_id" in line]
    outcomes = Counter(line["message"] for line in lines)
    errors = [line for line in log_lines(log_output) if line["level"] == "ERROR"]
    refused_notifications = Counter(
        line["message_id"] for line in lines if line["message"] == "not an S3 notification"
    )
    say(
        f"poison to the media function: {len(ids)} bodies, outcomes {dict(outcomes)}, "
        f"{len(retried)} retried, {len(errors)} ERROR lines, {len(media.sandbox.uploads())} "
        "uploads"
    )
    assert len(ids) == BODIES
    assert retried == []
    assert errors == []
    assert {line["message_id"] for line in lines} == set(ids)  # each recorded or refused
    assert set(refused_notifications.values()) <= {1}  # once
    assert media.sandbox.uploads() == []
    assert long_lines(log_output) == []


# -- the callbacks -------------------------------------------------------------------------

REPORT_FIELDS: Final = ["msg_id", "p_transaction_id", "type", "status", "status_extended", "text"]


@st.composite
def hostile_call(draw: st.DrawFn) -> dict[str, Any]:
    shape = draw(st.sampled_from(["deep", "huge", "control", "wrong", "status", "page"]))
    if shape == "deep":
        event = report_event({}, method="POST")
        event["body"] = draw(deep())
        if draw(st.booleans()):
            event["headers"]["Content-Type"] = "application/json"
        return event
    if shape == "huge":
        event = report_event({}, method="POST")
        name = draw(st.sampled_from(REPORT_FIELDS))
        event["body"] = "&".join(f"{name}=x" for _ in range(draw(st.integers(33, 20_000))))
        return event
    if shape == "status":
        ptid = draw(st.one_of(nasty_text, st.just("[" * 5000), st.just("order-1042")))
        return rest_event("GET", "/messages/{id}", f"/messages/{ptid}", {"id": ptid})
    if shape == "page":
        event = status_event("order-1042")
        token = draw(st.one_of(nasty_text, st.just("[" * 5000), st.text(max_size=300)))
        event["queryStringParameters"] = {"next": token}
        event["multiValueQueryStringParameters"] = {"next": [token]}
        return event
    fields = {
        name: draw(nasty_text if shape == "control" else wrong.map(json.dumps))
        for name in draw(st.sets(st.sampled_from(REPORT_FIELDS), min_size=1))
    }
    return report_event(fields, method=draw(st.sampled_from(["GET", "POST"])))


def test_poison_to_the_callbacks(
    table: str,
    secret: str,
    monkeypatch: pytest.MonkeyPatch,
    log_output: io.StringIO,
    say: Callable[[str], None],
) -> None:
    monkeypatch.setenv("CALLBACK_ALLOWED_CIDRS", "")
    callback_settings.cache_clear()
    seed_send()  # order-1042, so the status route's pages read a real send
    answers: Counter[int] = Counter()

    @settings(POISON, max_examples=BODIES)
    @given(event=hostile_call())
    def run(event: dict[str, Any]) -> None:
        status, _ = call(event)
        answers[int(status)] += 1

    run()
    callback_settings.cache_clear()
    errors = [line for line in log_lines(log_output) if line["level"] == "ERROR"]
    say(
        f"poison to the callbacks: {sum(answers.values())} calls, answers {dict(answers)}, "
        f"{len(errors)} ERROR lines"
    )
    assert sum(answers.values()) == BODIES
    assert set(answers) <= {200, 400, 404}  # stored, refused, no such send: never 5xx
    assert errors == []
    assert long_lines(log_output) == []
