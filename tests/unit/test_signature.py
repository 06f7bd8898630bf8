"""Section C and F signatures against tests/vectors (every one must be reproduced)."""

from __future__ import annotations

import hashlib
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from messaggio_core.protocol.encoding import encode
from messaggio_core.protocol.signature import (
    file_md5,
    media_signature,
    same_secret,
    send_signature,
)


def test_every_send_vector_is_reproduced(vectors: dict[str, Any]) -> None:
    assert len(vectors["send"]) == 9
    for v in vectors["send"]:
        txt = encode(v["txt"], v["charset"]) if v["txt"] is not None else None
        got = send_signature(v["user"], v["from"], v["phone"], txt, v["secret"])
        assert got == v["sign"], v["name"]


def test_media_vector_is_reproduced(vectors: dict[str, Any]) -> None:
    (v,) = vectors["media"]
    content = bytes(range(256)) * 4
    chunks = [content[i : i + 100] for i in range(0, len(content), 100)]
    assert file_md5(chunks) == v["file_md5"]
    assert media_signature(v["login"], v["file_md5"], v["secret"]) == v["sign"]


def test_charset_changes_the_signature() -> None:
    """The txt term is the bytes sent: the same text signs differently per charset."""
    text = "Код 5521"
    utf8 = send_signature("acme", "MyShop", ["79031234567"], encode(text, "UTF-8"), "k")
    ucs2 = send_signature("acme", "MyShop", ["79031234567"], encode(text, "UCS-2"), "k")
    assert utf8 != ucs2


@given(
    user=st.text(max_size=20),
    sender=st.text(max_size=11),
    phones=st.lists(st.from_regex(r"[0-9]{7,15}", fullmatch=True), max_size=5),
    txt=st.none() | st.binary(max_size=200),
    secret=st.text(max_size=30),
)
def test_signature_is_md5_of_the_plain_concatenation(
    user: str, sender: str, phones: list[str], txt: bytes | None, secret: str
) -> None:
    expected = hashlib.md5(
        user.encode() + sender.encode() + "".join(phones).encode() + (txt or b"") + secret.encode()
    ).hexdigest()
    assert send_signature(user, sender, phones, txt, secret) == expected


@given(st.text(max_size=40), st.text(max_size=40))
def test_same_secret_is_equality(a: str, b: str) -> None:
    assert same_secret(a, b) == (a == b)
    assert same_secret(a, a)
