"""Sections A and B: the queue body, its rules, the kind, and the form sent."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st

from messaggio_core.protocol.send import InvalidSendRequest, Kind, Message, parse_message
from messaggio_core.protocol.signature import send_signature

BASE: dict[str, Any] = {
    "sending_method": "viber",
    "from": "MyShop",
    "phone": ["380501234567"],
    "txt": "Your order 1042 has shipped",
}


def parse(**changes: Any) -> Message:
    body = {**BASE, **changes}
    body = {k: v for k, v in body.items() if v is not ...}
    return parse_message(json.dumps(body), fallback_id="sqs-1")


def reasons(**changes: Any) -> list[str]:
    with pytest.raises(InvalidSendRequest) as info:
        parse(**changes)
    return info.value.reasons


def form_dict(message: Message) -> dict[str, list[bytes]]:
    out: dict[str, list[bytes]] = {}
    for name, value in message.form("acme", "s3cr3t-Key", image_id=None):
        out.setdefault(name, []).append(value)
    return out


def test_text_message_form_is_complete_and_signed() -> None:
    message = parse(p_transaction_id="order-1042", phone=["380501234567", "380671112233"])
    assert message.kind is Kind.TEXT
    form = message.form("acme", "s3cr3t-Key")
    names = [n for n, _ in form]
    assert names == [
        "sending_method",
        "from",
        "user",
        "txt",
        "phone",
        "phone",
        "p_transaction_id",
        "dlr",
        "sign",
    ]
    fields = dict(form)
    assert fields["dlr"] == b"1"
    assert fields["p_transaction_id"] == b"order-1042"
    # the shared vector "viber text to two recipients"
    assert fields["sign"] == b"e9057accffb4c9e824af35174ac09e61"


def test_missing_transaction_id_falls_back_to_the_sqs_message_id() -> None:
    message = parse()
    assert message.p_transaction_id == "sqs-1"
    assert dict(message.form("acme", "k"))["p_transaction_id"] == b"sqs-1"


def test_kinds() -> None:
    assert parse(image_id="IMG", txt=...).kind is Kind.PICTURE
    assert parse(button_text="Track", button_link="https://x.test/1").kind is Kind.TEXT_BUTTON
    assert (
        parse(image_id="IMG", button_text="Track", button_link="https://x.test/1").kind
        is Kind.TEXT_PICTURE_BUTTON
    )
    assert parse(sending_method="sms").kind is Kind.TEXT


def test_picture_has_no_txt_term_in_signature_or_form() -> None:
    message = parse(image_id="IMG", txt=...)
    form = dict(message.form("acme", "s3cr3t-Key"))
    assert "txt" not in form
    assert form["image_id"] == b"IMG"
    assert (
        form["sign"]
        == send_signature("acme", "MyShop", ["380501234567"], None, "s3cr3t-Key").encode()
    )


@pytest.mark.parametrize("lone", ["button_text", "button_link"])
def test_one_button_field_is_text_with_a_warning_naming_the_missing_field(lone: str) -> None:
    message = parse(**{lone: "x"})
    assert message.kind is Kind.TEXT
    other = "button_link" if lone == "button_text" else "button_text"
    assert len(message.warnings) == 1 and other in message.warnings[0]
    assert lone not in dict(message.form("acme", "k"))


def test_cp1251_text_is_sent_and_signed_as_cp1251_bytes() -> None:
    text = "Съешь ещё этих булок"
    message = parse(txt=text, charset="CP1251", phone=["79031234567"])
    form = dict(message.form("acme", "s3cr3t-Key"))
    assert form["txt"] == text.encode("cp1251")
    assert form["charset"] == b"CP1251"
    assert form["sign"] == b"2534003db28d615c5be29f6f5d759022"
    assert "%D1%FA" in urlencode(list(message.form("acme", "k")))  # "Съ" in CP1251


def test_expiry_txt_is_encoded_in_the_charset_too() -> None:
    message = parse(charset="UTF-16BE", expiry_txt="Код")
    assert dict(message.form("acme", "k"))["expiry_txt"] == "Код".encode("utf-16-be")


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"from": ""}, "from: must be 1 to 11"),
        ({"from": "TwelveChars!"}, "from: must be 1 to 11"),
        ({"from": "Магазин"}, "from: only Latin letters"),
        ({"phone": []}, "phone: at least one"),
        ({"phone": ["+380501234567"]}, "phone[0]: must be 7 to 15 digits"),
        ({"phone": ["38050 1234567"]}, "phone[0]: must be 7 to 15 digits"),
        ({"phone": ["1234567890123456"]}, "phone[0]: must be 7 to 15 digits"),
        ({"phone": [380501234567]}, "phone.0: input should be a valid string"),
        ({"phone": ["380501234567"] * 2}, "phone: the same number appears twice"),
        ({"phone": [f"38050123{i:04d}" for i in range(51)]}, "phone: at most 50"),
        ({"txt": "x" * 2049}, "txt: must be at most 2048"),
        ({"txt": ...}, "txt: is required"),
        ({"dlr_timeout": 59}, "dlr_timeout: must be 60 to 86400"),
        ({"dlr_timeout": 86401}, "dlr_timeout: must be 60 to 86400"),
        ({"dlr_timeout": "600"}, "dlr_timeout: input should be a valid integer"),
        ({"delay": 10081}, "delay: must be 0 to 10080"),
        ({"delay": -1}, "delay: must be 0 to 10080"),
        ({"button_text": "b" * 31, "button_link": "https://x"}, "button_text: must be at most 30"),
        ({"button_text": "b", "button_link": "h" * 2049}, "button_link: must be at most 2048"),
        ({"charset": "KOI8-R"}, "charset: input should be"),
        ({"charset": "CP1251", "txt": "Знижка 🎉"}, "txt: has characters that CP1251 cannot carry"),
        (
            {"charset": "UCS-2", "txt": "🎉"},
            "txt: has characters that UCS-2 cannot carry (U+1F389)",
        ),
        ({"image_id": "i" * 65, "txt": ...}, "image_id: must be at most 64"),
        ({"image_id": "IMG"}, "image: text + picture needs a button"),
        ({"image_id": "IMG", "txt": ..., "button_text": "b", "button_link": "l"}, "also needs txt"),
        ({"sending_method": "sms", "image_id": "IMG"}, "image_id: a picture cannot be sent by sms"),
        ({"sending_method": "sms", "button_text": "b"}, "button_text: a button cannot be sent"),
        ({"sending_method": "sms", "expiry_txt": "e"}, "expiry_txt: only a viber message"),
        ({"sending_method": "whatsapp"}, "sending_method: input should be 'viber' or 'sms'"),
        ({"p_transaction_id": "a b"}, "p_transaction_id: must be 1 to 64"),
        ({"p_transaction_id": "x" * 65}, "p_transaction_id: must be 1 to 64"),
        ({"image": "https://x/y.png", "txt": ...}, "image: must be s3://bucket/key"),
        ({"image": "s3://bucket/a.png", "image_id": "I", "txt": ...}, "give image or image_id"),
        ({"colour": "red"}, "colour: is not a known field"),
        ({"user": "evil"}, "user: is added by the connector"),
        ({"from": ...}, "from: is required"),
    ],
)
def test_each_broken_rule_has_one_clear_reason(changes: dict[str, Any], expected: str) -> None:
    got = reasons(**changes)
    assert any(expected in r for r in got), got


def test_all_broken_rules_are_reported_together() -> None:
    got = reasons(**{"from": "", "dlr_timeout": 1, "delay": 99999})
    assert len(got) == 3


def test_reasons_never_echo_phones_or_text() -> None:
    got = reasons(phone=["+380501234567"], txt="secret text " * 300, charset="CP1251")
    joined = " ".join(got)
    assert "380501234567" not in joined and "secret" not in joined


def test_empty_value_counts_as_not_sent() -> None:
    message = parse(charset="", dlr_timeout="", button_text="", expiry_txt="")
    form = dict(message.form("acme", "k"))
    assert {"charset", "dlr_timeout", "button_text", "expiry_txt"}.isdisjoint(form)
    assert message.warnings == ()


@pytest.mark.parametrize("raw", ["", "not json", "[1,2]", "null", '"text"', b"\xff\xfe"])
def test_body_that_is_not_a_json_object(raw: str | bytes) -> None:
    with pytest.raises(InvalidSendRequest) as info:
        parse_message(raw, "m")
    assert info.value.reasons[0].startswith("body:")


def test_sms_parts_recorded_for_sms_and_for_the_viber_fallback() -> None:
    assert parse(sending_method="sms", txt="a" * 161).sms is not None
    assert parse(sending_method="sms", txt="a" * 161).sms.parts == 2  # type: ignore[union-attr]
    assert parse(txt="v", expiry_txt="я" * 71).sms.parts == 2  # type: ignore[union-attr]
    assert parse(txt="я" * 70).sms.parts == 1  # type: ignore[union-attr]
    assert parse(image_id="I", txt=...).sms is None


def test_image_reference_resolves_before_signing() -> None:
    message = parse(image="s3://media-bucket/promo/a.png", txt=...)
    assert message.image is not None and message.image.key == "promo/a.png"
    with pytest.raises(ValueError, match="resolved"):
        message.form("acme", "k")
    assert dict(message.form("acme", "k", image_id="ID9"))["image_id"] == b"ID9"


@given(st.dictionaries(st.text(max_size=12), st.none() | st.integers() | st.text(max_size=30)))
def test_any_json_object_is_a_message_or_a_clear_rejection(data: dict[str, Any]) -> None:
    try:
        parse_message(json.dumps(data), "m")
    except InvalidSendRequest as exc:
        assert exc.reasons and all(isinstance(r, str) and r for r in exc.reasons)
