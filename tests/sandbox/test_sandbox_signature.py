"""Section C and F signatures: tests/vectors pass, and a one-character change fails."""

from __future__ import annotations

import hashlib
import json

import pytest
import requests

from messaggio_sandbox import SandboxPlatform
from tests.conftest import VECTORS as VECTORS_FILE

VECTORS = json.loads(VECTORS_FILE.read_text(encoding="utf-8"))
ENCODINGS = {None: "utf-8", "UTF-8": "utf-8", "CP1251": "cp1251", "UCS-2": "utf-16-be"}
SEND_VECTORS = [v for v in VECTORS["send"] if v["phone"]]
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256))


def _accounts() -> dict[str, str]:
    return {v["user"]: v["secret"] for v in VECTORS["send"]}


def _fields(vector, image_id: str | None, sign: str | None = None, txt: bytes | None = None):
    fields: list[tuple[str, str | bytes]] = [
        ("sending_method", "viber"),
        ("user", vector["user"]),
        ("from", vector["from"]),
    ]
    fields += [("phone", phone) for phone in vector["phone"]]
    if vector["txt"] is not None:
        fields.append(("txt", txt or vector["txt"].encode(ENCODINGS[vector["charset"]])))
    else:
        assert image_id is not None
        fields.append(("image_id", image_id))
    if vector["charset"] is not None:
        fields.append(("charset", vector["charset"]))
    fields.append(("sign", sign or vector["sign"]))
    return fields


@pytest.fixture
def vector_sandbox():
    with SandboxPlatform(accounts=_accounts()) as platform:
        yield platform


def _image_id(platform: SandboxPlatform, client, login: str = "acme") -> str:
    secret = _accounts()[login]
    sign = client.upload_sign(login, PNG, secret)
    response = requests.post(
        platform.media_url,
        data={"login": login, "sign": sign},
        files={"image": ("p.png", PNG)},
        timeout=5,
    )
    return str(response.json()["image_id"])


@pytest.mark.parametrize("vector", SEND_VECTORS, ids=[v["name"] for v in SEND_VECTORS])
def test_vector_accepted(vector_sandbox, client, vector):
    image_id = _image_id(vector_sandbox, client) if vector["txt"] is None else None
    answer = client.on(vector_sandbox).post(_fields(vector, image_id))
    assert (answer.code, answer.tech_message) == (0, "OK")


@pytest.mark.parametrize("vector", SEND_VECTORS, ids=[v["name"] for v in SEND_VECTORS])
def test_vector_with_one_character_changed_sign_refused(vector_sandbox, client, vector):
    image_id = _image_id(vector_sandbox, client) if vector["txt"] is None else None
    sign = vector["sign"]
    changed = sign[:-1] + ("0" if sign[-1] != "0" else "1")
    answer = client.on(vector_sandbox).post(_fields(vector, image_id, sign=changed))
    assert (answer.code, answer.tech_message) == (-2, "AUTH ERROR")


@pytest.mark.parametrize("vector", [v for v in SEND_VECTORS if v["txt"]], ids=lambda v: v["name"])
def test_vector_with_one_text_character_changed_refused(vector_sandbox, client, vector):
    txt = vector["txt"][:-1] + ("x" if vector["txt"][-1] != "x" else "y")
    encoded = txt.encode(ENCODINGS[vector["charset"]])
    answer = client.on(vector_sandbox).post(_fields(vector, None, txt=encoded))
    assert answer.code == -2


def test_no_phone_vector_is_a_param_error_not_an_auth_error(vector_sandbox, client):
    vector = next(v for v in VECTORS["send"] if not v["phone"])
    answer = client.on(vector_sandbox).post(_fields(vector, None))
    assert answer.tech_message == "PARAM ERROR (phone)"


def test_vectors_match_section_c_as_written(client):
    """Guards the vectors file and the test helper against each other."""
    for vector in VECTORS["send"]:
        txt = None if vector["txt"] is None else vector["txt"].encode(ENCODINGS[vector["charset"]])
        sign = client.send_sign(
            vector["user"], vector["from"], vector["phone"], txt, vector["secret"]
        )
        assert sign == vector["sign"], vector["name"]


def test_phone_order_is_signed(vector_sandbox, client):
    vector = next(v for v in SEND_VECTORS if v["name"] == "two phones, in order sent")
    swapped = dict(vector, phone=list(reversed(vector["phone"])))
    answer = client.on(vector_sandbox).post(_fields(swapped, None))
    assert answer.code == -2


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({}, 0),
        ({"user": "nobody"}, -2),
        ({"secret": "s3cr3t-KeY"}, -2),
        ({"sign": "E9057ACCFFB4C9E824AF35174AC09E61"}, -2),  # upper case is another string
    ],
)
def test_auth(client, change, code):
    fields = {"phones": [client.PHONE, client.PHONE2], "txt": "Your order 1042 has shipped"}
    answer = client.send(**fields, **change)
    assert answer.code == code
    assert answer.tech_message == ("OK" if code == 0 else "AUTH ERROR")


def test_unsigned_parameters_do_not_change_the_sign(client):
    answer = client.send(p_transaction_id="order-1", dlr="1", dlr_timeout="600", delay="5")
    assert answer.code == 0


def test_media_vector(client):
    vector = VECTORS["media"][0]
    data = bytes(range(256)) * 4
    assert hashlib.md5(data).hexdigest() == vector["file_md5"]
    # The vector's file is not an image: the right signature gets past status 2 to status 4.
    good = client.upload(data, login=vector["login"], sign=vector["sign"], secret=vector["secret"])
    assert good.json() == {"status": 4, "error": "format not accepted (JPG, GIF, PNG)"}
    bad = client.upload(data, login=vector["login"], sign=vector["sign"][:-1] + "0")
    assert bad.json()["status"] == 2
