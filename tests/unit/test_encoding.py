"""Section A charsets and the SMS part counts of [prev]."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from messaggio_core.protocol.encoding import UnencodableText, encode, is_gsm, sms_parts


@pytest.mark.parametrize(
    ("charset", "codec"),
    [
        (None, "utf-8"),
        ("UTF8", "utf-8"),
        ("UTF-8", "utf-8"),
        ("UTF-16BE", "utf-16-be"),
        ("UCS-2", "utf-16-be"),
        ("CP1251", "cp1251"),
    ],
)
def test_charsets(charset: str | None, codec: str) -> None:
    assert encode("Привіт", charset) == "Привіт".encode(codec)


def test_emoji_cannot_go_as_cp1251_or_ucs2_but_can_as_utf16() -> None:
    with pytest.raises(UnencodableText):
        encode("ok 🎉", "CP1251")
    with pytest.raises(UnencodableText):
        encode("ok 🎉", "UCS-2")
    assert encode("🎉", "UTF-16BE") == "🎉".encode("utf-16-be")


@pytest.mark.parametrize(
    ("text", "encoding", "parts"),
    [
        ("", "GSM-7", 0),
        ("a" * 160, "GSM-7", 1),
        ("a" * 161, "GSM-7", 2),
        ("a" * 306, "GSM-7", 2),
        ("a" * 307, "GSM-7", 3),
        ("€" * 80, "GSM-7", 1),  # 160 septets: extension characters count two
        ("€" * 81, "GSM-7", 2),
        ("a" * 152 + "€" + "a" * 7, "GSM-7", 2),
        # 306 septets fit two parts of 153, but the escape pair is not split: three.
        ("a" * 152 + "€" + "a" * 152, "GSM-7", 3),
        ("я" * 70, "UCS-2", 1),
        ("я" * 71, "UCS-2", 2),
        ("я" * 134, "UCS-2", 2),
        ("я" * 135, "UCS-2", 3),
        ("я" * 66 + "🎉", "UCS-2", 1),  # 68 code units
        ("я" * 66 + "🎉" + "я" * 5, "UCS-2", 2),  # the surrogate pair moves to part 2
    ],
)
def test_sms_parts(text: str, encoding: str, parts: int) -> None:
    got = sms_parts(text)
    assert (got.encoding, got.parts) == (encoding, parts)


def test_gsm_alphabet() -> None:
    assert is_gsm("Hello @£$¥ {}[]~|^€\\")
    assert not is_gsm("Привіт")
    assert not is_gsm("`")  # the backtick is not in GSM 03.38


@given(st.text(max_size=800))
def test_parts_bound_the_units(text: str) -> None:
    got = sms_parts(text)
    part = 153 if got.encoding == "GSM-7" else 67
    if got.units > (160 if got.encoding == "GSM-7" else 70):
        assert part * (got.parts - 1) < got.units <= part * got.parts
