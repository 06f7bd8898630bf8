"""Sections A and B: the queue body, its rules, the kind, and the form sent."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st

from messaggio_core.protocol.send import InvalidSendRequest, Message, parse_message
from messaggio_core.protocol.signature import send_signature
from messaggio_core.protocol.surface import Kind
from tests.conftest import ROOT

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
    assert parse(sending_method="sms").kind is Kind.SMS


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
    message = parse(**{lone: "https://x.test/1" if lone == "button_link" else "x"})
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
        ({"phone": ["380-50-123-45-67"]}, "phone[0]: must be 7 to 15 digits"),
        ({"phone": ["++380501234567"]}, "phone[0]: must be 7 to 15 digits"),
        ({"phone": ["38050 1234567"]}, "phone[0]: must be 7 to 15 digits"),
        ({"phone": ["1234567890123456"]}, "phone[0]: must be 7 to 15 digits"),
        ({"phone": [380501234567]}, "phone[0]: input should be a valid string"),
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
        ({"image_id": "IMG"}, "image_id: text + picture needs a button"),
        ({"image": "s3://bucket/a.png"}, "image: text + picture needs a button"),
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
    got = reasons(phone=["380501234567 "], txt="secret text " * 300, charset="CP1251")
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
    assert parse(txt="я" * 70).sms is None  # Viber-only: it asks for no SMS
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
        assert not any("; " in r for r in exc.reasons)  # the separator of reasons
        assert len(str(exc)) < 4096  # fits the stored reason (dal.messages.REASON_MAX)


# --- every broken rule in one rejection (issue 15.11, 16.7) ---


def test_a_wrong_type_does_not_hide_the_other_rules() -> None:
    got = reasons(
        **{
            "sending_method": "sms",
            "from": "",
            "phone": "380501234567",
            "txt": 5,
            "dlr_timeout": "600",
            "delay": 99_999,
            "image": "s3://media-bucket/a.png",
            "button_link": "javascript:alert(1)",
        }
    )
    assert sorted(got) == sorted(
        [
            "from: must be 1 to 11 characters",
            "phone: input should be a valid list",
            "txt: input should be a valid string",
            "dlr_timeout: input should be a valid integer",
            "delay: must be 0 to 10080 minutes",
            "image: a picture cannot be sent by sms",
            "button_link: must be an https:// or http:// address, without spaces or control "
            "characters",
            "button_link: a button cannot be sent by sms",
        ]
    )


def test_a_broken_element_does_not_hide_the_count_or_other_elements() -> None:
    got = reasons(phone=[5, "380-50", *(f"38050{i:07d}" for i in range(60))])
    assert "phone: at most 50 recipients per message" in got
    assert "phone[0]: input should be a valid string" in got
    assert any(r.startswith("phone[1]: must be 7 to 15 digits") for r in got)


def test_a_field_with_two_broken_rules_gets_both() -> None:
    got = reasons(button_text="b", button_link="file://" + "x" * 2048)
    assert [r.split(":")[0] for r in got] == ["button_link", "button_link"]


def test_a_broken_charset_still_lets_the_kind_rules_speak() -> None:
    got = reasons(sending_method="sms", charset="KOI8-R", txt=..., expiry_txt="e")
    assert {r.split(":")[0] for r in got} == {"charset", "txt", "expiry_txt"}


def test_paths_have_one_spelling() -> None:
    got = reasons(phone=["380501234567", 7, "x"])
    assert "phone[1]: input should be a valid string" in got
    assert any(r.startswith("phone[2]: ") for r in got)
    assert not any("phone." in r for r in got)


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"sending_method": "sms", "image": "s3://media-bucket/a.png"}, "image"),
        ({"sending_method": "sms", "image_id": "IMG"}, "image_id"),
        ({"sending_method": "sms", "button_link": "https://x.test"}, "button_link"),
        ({"sending_method": "sms", "button_text": "Go"}, "button_text"),
        ({"image_id": "IMG", "txt": ..., "button_link": "https://x.test"}, "button_link"),
        ({"image": "s3://media-bucket/a.png", "button_text": "Go"}, "image"),
    ],
)
def test_a_reason_names_the_field_that_was_sent(changes: dict[str, Any], named: str) -> None:
    got = reasons(**changes)
    assert len(got) == 1 and got[0].startswith(f"{named}: "), got


@pytest.mark.parametrize("field", ["user", "sign"])
def test_each_field_the_connector_adds_gets_the_same_message(field: str) -> None:
    assert reasons(**{field: "x"}) == [
        f"{field}: is added by the connector from its secret, so leave it out of the body"
    ]


def test_user_and_sign_together_are_both_named() -> None:
    got = reasons(user="acme", sign="abc", delay=-1)
    assert [r.split(":")[0] for r in got] == ["delay", "user", "sign"]


SENDABLE = [
    "sending_method",
    "from",
    "phone",
    "txt",
    "image",
    "image_id",
    "button_text",
    "button_link",
    "expiry_txt",
    "charset",
    "dlr_timeout",
    "delay",
    "p_transaction_id",
]
ANY_VALUE = (
    st.none()
    | st.integers(-5, 100_000)
    | st.sampled_from(
        [
            "",
            "sms",
            "viber",
            "MyShop",
            "s3://media-bucket/a.png",
            "https://x.test",
            "CP1251",
            "Знижка 🎉",
            "a\x00b",
            "order-1",
        ]
    )
    | st.lists(st.sampled_from(["380501234567", "+380671112233", "12", 5]), max_size=3)
)


@given(st.dictionaries(st.sampled_from(SENDABLE), ANY_VALUE))
def test_no_reason_names_a_field_that_was_not_sent_unless_it_is_missing(
    data: dict[str, Any],
) -> None:
    try:
        parse_message(json.dumps(data), "m")
    except InvalidSendRequest as exc:
        sent = set(data)
        for reason in exc.reasons:
            field = reason.split(":")[0].split("[")[0]
            assert field in sent or "required" in reason or field == "body", (reason, data)


# --- what is refused (issue 15.12) ---


@pytest.mark.parametrize(
    "link",
    [
        "javascript:alert(1)",
        "JavaScript:alert(1)",
        "data:text/html,<b>x</b>",
        "file:///etc/passwd",
        "ftp://x.test/a",
        "viber://chat",
        "//x.test/a",
        "https://",
        "https://x.test/a b",
        "https://x.test/\n",
        " https://x.test/a",
    ],
)
def test_a_button_link_is_a_web_address(link: str) -> None:
    got = reasons(button_text="Go", button_link=link)
    assert any(r.startswith("button_link: must be an https:// or http:// address") for r in got)


@pytest.mark.parametrize(
    "link", ["https://shop.example/t/1?a=b#c", "http://x.test", "HTTPS://X.TEST"]
)
def test_web_addresses_are_kept(link: str) -> None:
    assert (
        dict(parse(button_text="Go", button_link=link).form("acme", "k"))["button_link"]
        == link.encode()
    )


@pytest.mark.parametrize("field", ["txt", "expiry_txt", "button_text"])
@pytest.mark.parametrize("char", ["\x00", "\x01", "\x1b", "\r", "\x0b", "\x0c", "\x1f"])
def test_control_characters_are_refused(field: str, char: str) -> None:
    changes: dict[str, Any] = {field: f"a{char}b"}
    if field == "button_text":
        changes["button_link"] = "https://x.test"
    got = reasons(**changes)
    assert got == [
        f"{field}: has a control character (U+{ord(char):04X}): only newline and tab are allowed"
    ]


def test_newline_and_tab_are_kept() -> None:
    message = parse(txt="Line 1\n\tLine 2", expiry_txt="a\nb")
    assert dict(message.form("acme", "k"))["txt"] == b"Line 1\n\tLine 2"


@pytest.mark.parametrize("field", ["txt", "button_text", "button_link", "image_id", "image"])
def test_an_unpaired_surrogate_is_refused_before_anything_is_signed(field: str) -> None:
    value = {
        "button_link": "https://x.test/\ud800",
        "image": "s3://media-bucket/\ud800.png",
    }.get(field, "a\ud800")
    changes: dict[str, Any] = {field: value, "button_text": "Go", "button_link": "https://x.test"}
    changes[field] = value
    got = reasons(**changes)
    assert any(r.startswith(f"{field}: ") for r in got), got


@pytest.mark.parametrize("ptid", [".", ".."])
def test_a_dot_segment_is_not_a_transaction_id(ptid: str) -> None:
    got = reasons(p_transaction_id=ptid)
    assert got[0].startswith("p_transaction_id: must be 1 to 64")


@pytest.mark.parametrize("ptid", ["...", ".a", "a..b", "order:1042"])
def test_other_dotted_ids_are_kept(ptid: str) -> None:
    assert parse(p_transaction_id=ptid).p_transaction_id == ptid


def test_an_image_key_is_bounded_like_s3s() -> None:
    assert reasons(image="s3://media-bucket/" + "k" * 1025, txt=...)[0].startswith("image: ")
    assert parse(image="s3://media-bucket/" + "k" * 1024, txt=...).image is not None


# --- reasons stay small and say nothing of the values (issue 15.14) ---


def test_ten_thousand_broken_phones_and_fields_give_a_short_reason() -> None:
    data = {
        **BASE,
        "phone": [f"+38 050 {i:07d}" for i in range(10_000)],
        "txt": "secret text " * 100_000,
        **{f"38050{i:07d}": "x" for i in range(10_000)},
        "x" * 100_000: 1,
    }
    with pytest.raises(InvalidSendRequest) as info:
        parse_message(json.dumps(data), "m")
    text = str(info.value)
    assert len(text) < 4_000
    assert "phone: at most 50 recipients per message" in info.value.reasons
    assert "phone[0], phone[1], phone[2] and 9997 more: must be 7 to 15 digits" in text
    assert "txt: must be at most 2048 characters" in info.value.reasons
    assert info.value.reasons[-1] == "body: 9985 more reasons"
    assert "secret" not in text and "050" not in text and "xxxxxxxxxx" not in text


def test_an_unknown_field_named_like_a_phone_is_not_echoed() -> None:
    assert reasons(**{"380501234567": "x"}) == ["<digits>: is not a known field"]


# --- phones as people write them (issue 16.6) ---


def test_a_leading_plus_is_accepted_and_sent_as_digits() -> None:
    message = parse(phone=["+380501234567", "380671112233"])
    assert message.recipients == ["380501234567", "380671112233"]
    form = message.form("acme", "s3cr3t-Key")
    assert [v for n, v in form if n == "phone"] == [b"380501234567", b"380671112233"]
    # signed over the digits, as the platform will check it
    assert dict(form)["sign"] == b"e9057accffb4c9e824af35174ac09e61"


def test_the_same_number_with_and_without_plus_is_a_duplicate() -> None:
    got = reasons(phone=["+380501234567", "380501234567"])
    assert got == ["phone: the same number appears twice (its msg_id would be ambiguous)"]


@pytest.mark.parametrize(
    "phone",
    ["+ 380501234567", "+380 50 123 4567", "+380-50-1234567", "(050)1234567", "380501234567+"],
)
def test_other_signs_are_still_refused(phone: str) -> None:
    assert reasons(phone=[phone]) == [
        "phone[0]: must be 7 to 15 digits, after an optional leading +, "
        "with no spaces or other signs"
    ]


# --- an unusable p_transaction_id (issue 16.5) ---


@pytest.mark.parametrize("ptid", ["a b", "..", 1042, "x" * 65, ["order-1"]])
def test_an_unusable_id_is_filed_under_the_message_id_and_says_so(ptid: Any) -> None:
    with pytest.raises(InvalidSendRequest) as info:
        parse(p_transaction_id=ptid, delay=-1)
    assert info.value.p_transaction_id == "sqs-1"
    assert info.value.reasons[-1] == (
        "p_transaction_id: unusable, so this rejection is filed under the SQS messageId sqs-1: "
        "query the status by that id"
    )


def test_a_usable_id_files_the_rejection_under_itself() -> None:
    with pytest.raises(InvalidSendRequest) as info:
        parse(p_transaction_id="order-9", delay=-1)
    assert info.value.p_transaction_id == "order-9"
    assert not any("messageId" in r for r in info.value.reasons)


def test_the_readme_shows_a_reason_as_the_connector_writes_it() -> None:
    with pytest.raises(InvalidSendRequest) as info:
        parse(
            sending_method="sms",
            phone=["380501234567", 7],
            image="s3://media-bucket/a.png",
            user="acme",
            **{"from": ""},
        )
    assert f"\n  {info.value}\n" in (ROOT / "README.md").read_text()
