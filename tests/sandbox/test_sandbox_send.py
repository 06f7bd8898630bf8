"""Section A and D: every parameter rule, charsets, kinds, msg_ids, balance."""

from __future__ import annotations

import uuid

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

# (fields for Client.fields, the parameter the platform must name)
PARAM_ERRORS = [
    ({"sending_method": None}, "sending_method"),
    ({"sending_method": "whatsapp"}, "sending_method"),
    ({"sending_method": "Viber"}, "sending_method"),
    ({"sender": None}, "from"),
    ({"sender": "TwelveChars!"}, "from"),
    ({"sender": "Магазин"}, "from"),
    ({"user": None}, "user"),
    ({"phones": ()}, "phone"),
    ({"phones": ("+380501234567",)}, "phone"),
    ({"phones": ("380501234567", "38050 123")}, "phone"),
    ({"phones": ("３８０５０１２３４５６７",)}, "phone"),  # full-width digits are not digits here
    ({"txt": None}, "txt"),
    ({"txt": "x" * 2049}, "txt"),
    ({"txt": b"\xff\xfe bad utf-8"}, "txt"),
    ({"txt": "hi", "charset": "KOI8-R"}, "charset"),
    ({"txt": "hi", "charset": "utf-8"}, "charset"),
    ({"txt": b"\x98", "charset": "CP1251"}, "txt"),  # 0x98 is no character in CP1251
    ({"txt": b"\x00h\x00", "charset": "UTF-16BE"}, "txt"),  # odd byte count
    ({"dlr": "2"}, "dlr"),
    ({"dlr": "yes"}, "dlr"),
    ({"dlr_timeout": "59"}, "dlr_timeout"),
    ({"dlr_timeout": "86401"}, "dlr_timeout"),
    ({"dlr_timeout": "1h"}, "dlr_timeout"),
    ({"dlr_timeout": "-60"}, "dlr_timeout"),
    ({"delay": "10081"}, "delay"),
    ({"delay": "-1"}, "delay"),
    ({"delay": "1.5"}, "delay"),
    ({"image_id": "a" * 65}, "image_id"),
    ({"image_id": "NotIssuedByThisPlatform"}, "image_id"),
    ({"button_text": "b" * 31, "button_link": "https://x.example"}, "button_text"),
    ({"button_text": "Go", "button_link": "https://x.example/" + "l" * 2031}, "button_link"),
    ({"expiry_txt": b"\xc3"}, "expiry_txt"),
    ({"p_transaction_id": b"\xff"}, "p_transaction_id"),
    ({"sending_method": "sms", "button_text": "Go", "button_link": "https://x"}, "sending_method"),
    ({"sending_method": "sms", "button_text": "Go"}, "sending_method"),
    ({"sign": None}, "sign"),
]


@pytest.mark.parametrize(("change", "name"), PARAM_ERRORS, ids=[n for _, n in PARAM_ERRORS])
def test_param_error_names_the_parameter(client, change, name):
    answer = client.send(**change)
    assert answer.code == -1
    assert answer.tech_message == f"PARAM ERROR ({name})"
    assert answer.msg_ids == []
    assert client.platform.sends()[-1].accepted is False


@pytest.mark.parametrize(
    "change",
    [
        {"sender": "A"},
        {"sender": "Shop & Co.1"},  # 11 characters, punctuation
        {"txt": "x" * 2048},
        {"txt": "🎉" * 2048},  # characters, not bytes
        {"sending_method": "sms"},
        {"dlr": "0"},
        {"dlr_timeout": "60"},
        {"dlr_timeout": "86400"},
        {"delay": "0"},
        {"delay": "10080"},
        {"button_text": "b" * 30, "button_link": "https://x.example/" + "l" * 2030},
        {"button_text": "Only text"},  # one of the two: the platform sends the text alone
        {"charset": "UTF8"},
        {"charset": "UTF-8"},
        {"expiry_txt": "Your order shipped (SMS)"},
        {"phones": ("1",)},
    ],
)
def test_boundaries_accepted(client, change):
    assert client.send(**change).code == 0


def test_sms_with_picture_is_refused(client):
    image_id = client.image_id()
    answer = client.send(sending_method="sms", image_id=image_id)
    assert answer.tech_message == "PARAM ERROR (sending_method)"


@pytest.mark.parametrize(
    "extra",
    [
        {"txt": None},  # picture
        {},  # text + picture
        {"button_text": "Open", "button_link": "https://shop.example/1042"},
        {"txt": None, "button_text": "Open", "button_link": "https://shop.example/1042"},
    ],
)
def test_viber_kinds_with_an_issued_image_id(client, extra):
    image_id = client.image_id()
    assert len(image_id) == 64
    assert client.send(image_id=image_id, **extra).code == 0


def test_picture_has_no_txt_term_in_the_sign(client):
    image_id = client.image_id()
    with_txt_term = client.send_sign(client.LOGIN, "MyShop", [client.PHONE], b"", client.SECRET)
    assert client.send(txt=None, image_id=image_id, sign=with_txt_term).code == 0  # same hash
    wrong = client.send_sign(client.LOGIN, "MyShop", [client.PHONE], b"hello", client.SECRET)
    assert client.send(txt=None, image_id=image_id, sign=wrong).code == -2


@pytest.mark.parametrize(
    ("charset", "text"),
    [
        ("CP1251", "Съешь ещё этих мягких французских булок"),
        ("UTF-16BE", "Код 5521 🎉"),
        ("UCS-2", "Код 5521"),
        ("UTF-8", "Привіт! Знижка 10% 🎉"),
        ("UTF8", "Привіт"),
    ],
)
def test_charset_bytes_signed_as_sent(client, charset, text):
    answer = client.send(txt=text, charset=charset, dlr="1")
    assert answer.code == 0
    record = client.platform.sends()[-1]
    codec = {"CP1251": "cp1251", "UTF-16BE": "utf-16-be", "UCS-2": "utf-16-be"}.get(
        charset, "utf-8"
    )
    assert record.param("txt") == text.encode(codec)
    assert record.text("txt", codec) == text


def test_charset_sign_over_utf8_bytes_is_refused(client):
    """Hashing the text as UTF-8 while sending CP1251 is the classic connector bug."""
    text = "Съешь ещё"
    sign = client.send_sign(client.LOGIN, "MyShop", [client.PHONE], text.encode(), client.SECRET)
    answer = client.send(txt=text, charset="CP1251", sign=sign)
    assert answer.code == -2


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    charset=st.sampled_from(["UTF-8", "UTF-16BE", "CP1251"]),
    text=st.text(min_size=1, max_size=40),
)
def test_any_encodable_text_round_trips(client, charset, text):
    codec = {"CP1251": "cp1251", "UTF-16BE": "utf-16-be"}.get(charset, "utf-8")
    try:
        raw = text.encode(codec)
    except UnicodeEncodeError:
        return
    answer = client.send(txt=raw, charset=charset)
    assert answer.code == 0, (charset, text)
    assert client.platform.sends()[-1].param("txt") == raw


def test_empty_value_counts_as_not_sent(client):
    fields = client.fields(dlr="1")
    fields += [("dlr_timeout", ""), ("image_id", ""), ("button_text", ""), ("delay", "")]
    fields.insert(3, ("phone", ""))  # an empty phone is no recipient (and not signed)
    answer = client.post(fields)
    assert answer.code == 0
    assert [phone for phone, _ in answer.msg_ids] == [client.PHONE]
    assert client.post(client.fields(txt="")).tech_message == "PARAM ERROR (txt)"
    assert client.post(client.fields(user="")).tech_message == "PARAM ERROR (user)"


def test_single_valued_parameter_given_twice_is_refused(client):
    fields = client.fields()
    fields.insert(0, ("txt", "other"))
    assert client.post(fields).tech_message == "PARAM ERROR (txt)"


def test_msg_id_per_phone_in_order_with_dlr(client):
    phones = ["380501111111", "380502222222", "380503333333"]
    answer = client.send(phones=phones, dlr="1")
    assert answer.code == 0
    assert [phone for phone, _ in answer.msg_ids] == phones
    ids = [msg_id for _, msg_id in answer.msg_ids]
    assert len(set(ids)) == 3
    assert all(uuid.UUID(msg_id).version == 4 for msg_id in ids)
    record = client.platform.sends()[-1]
    assert record.msg_ids == dict(answer.msg_ids)
    assert record.accepted and record.code == 0
    assert [m.msg_id for m in client.platform.messages] == ids


def test_no_msg_ids_without_dlr(client):
    assert client.send(phones=[client.PHONE, client.PHONE2]).msg_ids == []
    assert client.send(phones=[client.PHONE], dlr="0").msg_ids == []
    assert "msg_id" not in client.send().response.text


def test_get_with_query_string(client):
    query = client.form(client.fields(dlr="1")).decode()
    answer = client.parse_answer(requests.get(f"{client.platform.send_url}?{query}", timeout=5))
    assert answer.code == 0
    assert len(answer.msg_ids) == 1
    assert client.platform.sends()[-1].method == "GET"


def test_recorded_params_are_raw_bytes(client):
    client.send(txt="Съешь", charset="CP1251", p_transaction_id="order-1042")
    record = client.platform.sends()[-1]
    assert record.kind == "send" and record.method == "POST" and record.path == "/send"
    assert record.param("txt") == "Съешь".encode("cp1251")
    assert record.all("phone") == [client.PHONE.encode()]
    assert record.text("p_transaction_id") == "order-1042"
    assert record.param("nothing") is None
    assert b"txt=%D1%FA%E5%F8%FC" in record.body
    assert record.status == 200 and b"<code>0</code>" in record.answer


def test_other_methods_and_paths(client):
    assert requests.put(client.platform.send_url, timeout=5).status_code == 405
    assert requests.get(client.platform.url + "/nothing", timeout=5).status_code == 404
    kinds = [r.kind for r in client.platform.requests]
    assert kinds == ["send", "other"]


def test_balance(client):
    client.platform.balance = 3
    assert client.send(phones=[client.PHONE, client.PHONE2]).code == 0
    assert client.platform.balance == 1
    answer = client.send(phones=[client.PHONE, client.PHONE2], dlr="1")
    assert (answer.code, answer.tech_message, answer.msg_ids) == (-5, "NO SMS LEFT", [])
    assert client.platform.balance == 1
    assert client.send(phones=[client.PHONE]).code == 0
    assert client.platform.balance == 0
    assert client.send().code == -5
    # Auth is judged before the balance.
    assert client.send(secret="wrong").code == -2


def test_param_error_before_auth_error(client):
    assert client.send(user="nobody", phones=["+1"]).tech_message == "PARAM ERROR (phone)"


def test_plus_is_a_space_and_percent_2b_a_plus(client):
    """requests (like most form encoders) writes a space as '+'; a literal '+' as %2B."""
    txt = "Sale + 10% off today"
    sign = client.send_sign(client.LOGIN, "My Shop", [client.PHONE], txt.encode(), client.SECRET)
    data = {
        "sending_method": "viber",
        "user": client.LOGIN,
        "from": "My Shop",
        "phone": client.PHONE,
        "txt": txt,
        "sign": sign,
    }
    response = requests.post(client.platform.send_url, data=data, timeout=5)
    assert isinstance(response.request.body, str)
    assert "txt=Sale+%2B+10%25+off+today" in response.request.body
    assert client.parse_answer(response).code == 0
    assert client.platform.sends()[-1].text("txt") == txt
