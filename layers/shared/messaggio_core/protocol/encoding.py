"""Section A's `charset`, and how many SMS parts a text costs.

[doc] charset names and their meanings: UTF8 / UTF-8 (default), UTF-16BE / UCS-2, CP1251.
[ours] UCS-2 is taken literally: a character outside the Basic Multilingual Plane (most emoji)
cannot be carried, so it is refused rather than sent as a surrogate pair the platform may read
as two broken characters. UTF-16BE carries it.
[prev] SMS parts (bulk_sms, "If the message is up to 160 characters..."): GSM 03.38 text is
160 characters in one part, else 153 a part; any other text is 70 in one part, else 67 a part.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

DEFAULT_CHARSET: Final = "UTF-8"  # [doc]

# [doc] wire name -> Python codec
CHARSETS: Final[dict[str, str]] = {
    "UTF8": "utf-8",
    "UTF-8": "utf-8",
    "UTF-16BE": "utf-16-be",
    "UCS-2": "utf-16-be",
    "CP1251": "cp1251",
}


class UnencodableText(ValueError):
    """The text has characters its charset cannot carry."""

    def __init__(self, charset: str, chars: str) -> None:
        self.charset = charset
        self.chars = chars
        super().__init__(f"has characters that {charset} cannot carry ({chars!r})")


def encode(text: str, charset: str | None) -> bytes:
    """The bytes of `text` on the wire: what is sent and what is signed (section C)."""
    name = charset or DEFAULT_CHARSET
    codec = CHARSETS[name]
    if name == "UCS-2":
        outside = "".join(sorted({c for c in text if ord(c) > 0xFFFF}))
        if outside:
            raise UnencodableText(name, outside)
    try:
        return text.encode(codec)
    except UnicodeEncodeError:
        bad = "".join(sorted({c for c in text if not _encodes(c, codec)}))
        raise UnencodableText(name, bad) from None


def _encodes(char: str, codec: str) -> bool:
    try:
        char.encode(codec)
    except UnicodeEncodeError:
        return False
    return True


# GSM 03.38 default alphabet (one septet each) and its extension table (two septets each:
# ESC + char). Written out by hand: Python has no GSM 03.38 codec in the standard library.
GSM_BASIC: Final = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENSION: Final = frozenset("\f^{}\\[~]|€")

SINGLE_GSM: Final = 160  # [prev]
PART_GSM: Final = 153  # [prev]
SINGLE_UCS2: Final = 70  # [prev]
PART_UCS2: Final = 67  # [prev]


@dataclass(frozen=True, slots=True)
class SmsParts:
    """How a text is billed as SMS."""

    encoding: str  # "GSM-7" or "UCS-2"
    units: int  # septets or UTF-16 code units
    parts: int


def is_gsm(text: str) -> bool:
    return all(c in GSM_BASIC or c in GSM_EXTENSION for c in text)


def sms_parts(text: str) -> SmsParts:
    """The number of SMS parts `text` is split into.

    A part boundary never splits an escape pair (GSM) or a surrogate pair (UCS-2), as
    handsets and SMSCs do, so a long text can need one part more than a plain division.
    """
    if is_gsm(text):
        sizes = [2 if c in GSM_EXTENSION else 1 for c in text]
        single, part, encoding = SINGLE_GSM, PART_GSM, "GSM-7"
    else:
        sizes = [2 if ord(c) > 0xFFFF else 1 for c in text]
        single, part, encoding = SINGLE_UCS2, PART_UCS2, "UCS-2"
    units = sum(sizes)
    if units == 0:
        return SmsParts(encoding, 0, 0)
    if units <= single:
        return SmsParts(encoding, units, 1)
    parts, used = 1, 0
    for size in sizes:
        if used + size > part:
            parts += 1
            used = 0
        used += size
    return SmsParts(encoding, units, parts)
