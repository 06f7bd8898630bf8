"""Send request validation through the real sender handler: every broken rule in one
rejection, what is refused, ids that cannot be used, phones as people write them, and log
lines that stay small whatever the body (moto, the sandbox over loopback)."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from tests.fixtures.sender import Sender, body

LOG_LINE_MAX = 16 * 1024


def rejected(sender: Sender, data: dict[str, Any] | str, ptid: str | None = None) -> str:
    """Sends one body; asserts it was refused for good, never sent; returns the reason."""
    event = sender.batch([data])
    assert sender.invoke(event) == []  # nothing retried
    assert sender.sandbox.sends() == []
    view = sender.state(ptid or event["Records"][0]["messageId"])
    assert view["state"] == "rejected", view
    reason: str = view["reason"]
    return reason


def test_a_wrong_type_does_not_hide_the_other_broken_rules(sender: Sender) -> None:
    reason = rejected(
        sender,
        body(
            "types-1",
            **{"from": "", "txt": 5, "dlr_timeout": "600", "delay": -1, "button_link": "data:,x"},
        ),
        "types-1",
    )
    for expected in (
        "from: must be 1 to 11 characters",
        "txt: input should be a valid string",
        "dlr_timeout: input should be a valid integer",
        "delay: must be 0 to 10080 minutes",
        "button_link: must be an https:// or http:// address",
    ):
        assert expected in reason


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (
            {"button_text": "Open", "button_link": "javascript:alert(document.cookie)"},
            "button_link: must be an https:// or http:// address",
        ),
        ({"button_text": "Open", "button_link": "file:///etc/passwd"}, "button_link: must be"),
        ({"txt": "Hello\x00world"}, "txt: has a control character (U+0000)"),
        ({"expiry_txt": "Hello\x1b[2J"}, "expiry_txt: has a control character (U+001B)"),
        (
            {"button_text": "Go\r", "button_link": "https://x.test"},
            "button_text: has a control character (U+000D)",
        ),
    ],
)
def test_dangerous_values_are_refused_never_sent(
    sender: Sender, changes: dict[str, Any], expected: str
) -> None:
    assert expected in rejected(sender, body("danger-1", **changes), "danger-1")


def test_an_unpaired_surrogate_is_refused_not_retried(sender: Sender) -> None:
    """JSON can carry "\\ud800"; no charset can: refused before anything is claimed."""
    data = body("surrogate-1", button_text="Go\ud800", button_link="https://x.test")
    reason = rejected(sender, json.dumps(data), "surrogate-1")
    assert "button_text: has an unpaired surrogate" in reason


@pytest.mark.parametrize("ptid", [".", "..", "a b", "x" * 65])
def test_an_unusable_id_is_filed_under_the_message_id_and_the_reason_says_so(
    sender: Sender, ptid: str
) -> None:
    event = sender.batch([body(ptid, delay=-1)])
    message_id = event["Records"][0]["messageId"]
    assert sender.invoke(event) == []
    assert sender.store().lifecycle(ptid) is None
    view = sender.state(message_id)
    assert view["state"] == "rejected"
    assert "p_transaction_id: must be 1 to 64" in view["reason"]
    assert "delay: must be 0 to 10080 minutes" in view["reason"]
    assert f"filed under the SQS messageId {message_id}" in view["reason"]


def test_a_phone_with_a_leading_plus_reaches_the_platform_as_digits(sender: Sender) -> None:
    data = body("plus-1", phone=["+380501234567", "380671112233"])
    assert sender.invoke(sender.batch([data])) == []
    (request,) = sender.sandbox.sends()
    assert request.code == 0  # the sandbox checked the signature over the digits
    assert [v for n, v in request.params if n == "phone"] == [b"380501234567", b"380671112233"]
    view = sender.state("plus-1")
    assert view["state"] == "submitted"
    assert [r["phone"] for r in view["recipients"]] == ["380501234567", "380671112233"]


def test_a_phone_with_other_signs_is_refused(sender: Sender) -> None:
    reason = rejected(sender, body("signs-1", phone=["+380 50 123 4567"]), "signs-1")
    assert reason == (
        "phone[0]: must be 7 to 15 digits, after an optional leading +, "
        "with no spaces or other signs"
    )


def test_reasons_name_what_was_sent_with_one_spelling(sender: Sender) -> None:
    reason = rejected(
        sender,
        body(
            "names-1",
            sending_method="sms",
            image="s3://media-bucket/a.png",
            phone=["380501234567", 7],
            user="acme",
            sign="0" * 32,
        ),
        "names-1",
    )
    assert "image: a picture cannot be sent by sms" in reason
    assert "image_id" not in reason
    assert "phone[1]: input should be a valid string" in reason and "phone.1" not in reason
    for added in ("user", "sign"):
        assert f"{added}: is added by the connector from its secret, so leave it out" in reason


def test_no_log_line_over_16_kb_and_no_value_in_any(
    sender: Sender, log_output: io.StringIO
) -> None:
    """A send with 10,000 phones, 10,000 broken phones, a huge text or 10,000 unknown fields
    is refused with a reason of counts, and every log line stays small."""
    phones = [f"38050{i:07d}" for i in range(10_000)]
    bodies = [
        body("huge-phones", phone=phones),
        body("huge-bad-phones", phone=[f"+{p[:5]} {p[5:]}" for p in phones]),
        body("huge-text", txt="secret words " * 15_000),
        {**body("huge-fields"), **{f"field_{p}": 1 for p in phones[:6_000]}},
    ]
    for data in bodies:
        assert len(json.dumps(data)) < 256 * 1024  # fits an SQS message
    assert sender.invoke(sender.batch(bodies)) == []
    assert sender.sandbox.sends() == []

    assert "phone: at most 50 recipients per message" in sender.state("huge-phones")["reason"]
    bad = sender.state("huge-bad-phones")["reason"]
    assert "phone[0], phone[1], phone[2] and 9997 more: must be 7 to 15 digits" in bad
    assert "txt: must be at most 2048" in sender.state("huge-text")["reason"]
    assert "more reasons" in sender.state("huge-fields")["reason"]

    lines = log_output.getvalue().splitlines()
    assert sum('"send rejected"' in line for line in lines) == 4
    assert max(len(line.encode()) for line in lines) <= LOG_LINE_MAX
    out = log_output.getvalue()
    assert "secret words" not in out
    assert not any(p in out for p in phones[:100])
