"""The platform's acceptance rules: docs/protocol.md sections A, C, D (send) and F (media upload).

Each rule is a named constant or one small function here, so a correction to docs/protocol.md is a
one-place change. This is an independent implementation: it must not share code with the
connector, or a bug in the connector's signing would hide behind the same bug here.

Order of the send checks (the platform names only the first broken parameter, so the order is
observable; docs/protocol.md does not give it, so this is the sandbox's choice):

1. ``-1 PARAM ERROR (name)`` for a missing or invalid parameter, checked in the order of
   ``SEND_CHECK_ORDER``, then the message kind, then a missing ``sign``;
2. ``-2 AUTH ERROR`` for an unknown ``user`` or a wrong ``sign``;
3. ``-5 NO SMS LEFT`` (balance; checked by ``send``, which owns the balance).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from .wire import Params, Part

# --- Section A: the send request --------------------------------------------------------------

SENDING_METHODS = ("viber", "sms")  # [doc]
FROM_MAX_CHARS = 11  # [doc] length
FROM_ALLOWED = re.compile(r"[\x20-\x7e]+")  # [prev] Latin letters, digits, space, punctuation
TXT_MAX_CHARS = 2048  # [doc]
PHONE_RE = re.compile(rb"[0-9]+")  # [doc] digits only, no "+"
# [doc] the encoding of txt on the wire; names are matched exactly as the document spells them.
CHARSETS: Mapping[str, str] = {
    "UTF8": "utf-8",
    "UTF-8": "utf-8",
    "UTF-16BE": "utf-16-be",
    "UCS-2": "utf-16-be",
    "CP1251": "cp1251",
}
DEFAULT_CHARSET = "UTF-8"  # [doc]
DLR_VALUES = (b"0", b"1")  # [doc]
DLR_TIMEOUT_RANGE = (60, 86_400)  # [doc]
DELAY_RANGE = (0, 10_080)  # [prev] minutes
IMAGE_ID_MAX_CHARS = 64  # [doc]
BUTTON_TEXT_MAX_CHARS = 30  # [prev]
BUTTON_LINK_MAX_CHARS = 2048  # [prev]
# Parameters that are not repeated; only ``phone`` is (one per recipient).
SINGLE_VALUED = (
    "sending_method",
    "from",
    "user",
    "txt",
    "sign",
    "p_transaction_id",
    "charset",
    "dlr",
    "dlr_timeout",
    "expiry_txt",
    "image_id",
    "button_text",
    "button_link",
    "delay",
)
SEND_CHECK_ORDER = (
    "sending_method",
    "from",
    "user",
    "phone",
    "charset",
    "txt",
    "expiry_txt",
    "dlr",
    "dlr_timeout",
    "delay",
    "image_id",
    "button_text",
    "button_link",
    "p_transaction_id",
)

# --- Section D: the send answer ---------------------------------------------------------------

CODE_OK = 0
CODE_PARAM_ERROR = -1
CODE_AUTH_ERROR = -2
CODE_REJECTED = -3
CODE_TEMPORARY = -4
CODE_NO_SMS_LEFT = -5
TECH_MESSAGES: Mapping[int, str] = {
    CODE_OK: "OK",
    CODE_PARAM_ERROR: "PARAM ERROR",
    CODE_AUTH_ERROR: "AUTH ERROR",
    CODE_REJECTED: "REQUEST REJECTED",
    CODE_TEMPORARY: "TEMPORARY ERROR",
    CODE_NO_SMS_LEFT: "NO SMS LEFT",
}

# --- Section F: media upload ------------------------------------------------------------------

UPLOAD_MAX_BYTES = 10 * 1024 * 1024
UPLOAD_OK = 0
UPLOAD_INCORRECT_DATA = 1
UPLOAD_BAD_SIGNATURE = 2
UPLOAD_TOO_LARGE = 3
UPLOAD_BAD_FORMAT = 4
UPLOAD_ERRORS: Mapping[int, str] = {
    UPLOAD_INCORRECT_DATA: "incorrect data",
    UPLOAD_BAD_SIGNATURE: "incorrect signature",
    UPLOAD_TOO_LARGE: "file size exceeds the maximum (10 MB)",
    UPLOAD_BAD_FORMAT: "format not accepted (JPG, GIF, PNG)",
}
# Judged by content, never by file name: a PNG named .jpg is fine, text named .png is not.
IMAGE_MAGIC: Mapping[str, tuple[bytes, ...]] = {
    "jpeg": (b"\xff\xd8\xff",),
    "png": (b"\x89PNG\r\n\x1a\n",),
    "gif": (b"GIF87a", b"GIF89a"),
}
IMAGE_ID_LENGTH = 64
IMAGE_ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


# --- Section C: the signature -----------------------------------------------------------------


def send_signature(
    user: bytes, sender: bytes, phones: list[bytes], txt: bytes | None, secret: bytes
) -> str:
    """md5(user + from + phone_1..phone_n + txt + secret_key), lowercase hex, over raw bytes.

    ``txt`` is the bytes as received (already in the request's charset); a picture has no
    txt term at all.
    """
    digest = hashlib.md5(usedforsecurity=False)
    for term in (user, sender, *phones, txt or b"", secret):
        digest.update(term)
    return digest.hexdigest()


def upload_signature(login: bytes, file_bytes: bytes, secret: bytes) -> str:
    """md5(login + md5hex(file) + secret_key), lowercase hex (section F)."""
    file_md5 = hashlib.md5(file_bytes, usedforsecurity=False).hexdigest().encode("ascii")
    return hashlib.md5(login + file_md5 + secret, usedforsecurity=False).hexdigest()


# --- Send -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SendRequest:
    """A send that passed every parameter and signature check: what the platform then needs."""

    user: str
    sending_method: str
    phones: tuple[str, ...]
    dlr: bool
    p_transaction_id: str | None


@dataclass(frozen=True)
class SendVerdict:
    """The platform's answer before the balance: ``request`` is set only when code is 0."""

    code: int
    tech_message: str
    request: SendRequest | None = None


class _ParamError(Exception):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


class _Values:
    """Access to the parameters with section A's rule that an empty value is not sent."""

    def __init__(self, params: Params) -> None:
        self._params = params

    def all(self, name: str) -> list[bytes]:
        return [value for key, value in self._params if key == name and value != b""]

    def one(self, name: str) -> bytes | None:
        values = self.all(name)
        if len(values) > 1:  # a single-valued parameter given twice is ambiguous: refuse it
            raise _ParamError(name)
        return values[0] if values else None


def _decode(value: bytes, encoding: str, name: str) -> str:
    try:
        return value.decode(encoding)
    except UnicodeDecodeError:
        raise _ParamError(name) from None


def _check_int(value: bytes | None, bounds: tuple[int, int], name: str) -> None:
    if value is not None and not (
        re.fullmatch(rb"[0-9]{1,9}", value) and bounds[0] <= int(value) <= bounds[1]
    ):
        raise _ParamError(name)


def _max_chars(value: bytes | None, limit: int, name: str, encoding: str = "utf-8") -> str | None:
    if value is None:
        return None
    text = _decode(value, encoding, name)
    if len(text) > limit:
        raise _ParamError(name)
    return text


def check_send(
    params: Params, accounts: Mapping[str, str], image_ids: Collection[str]
) -> SendVerdict:
    """Judge a send as the platform would (sections A, C, D), balance aside.

    ``charset`` applies to ``txt`` and ``expiry_txt`` only (the texts); every other parameter
    is read as UTF-8.
    """
    values = _Values(params)
    try:
        for name in SINGLE_VALUED:
            values.one(name)  # a repeated single-valued parameter is a PARAM ERROR
        request = _parse_send(values, image_ids)
        sign = values.one("sign")
        if sign is None:
            raise _ParamError("sign")
    except _ParamError as error:
        return SendVerdict(CODE_PARAM_ERROR, f"PARAM ERROR ({error.name})")
    auth = SendVerdict(CODE_AUTH_ERROR, TECH_MESSAGES[CODE_AUTH_ERROR])
    secret = accounts.get(request.user)
    if secret is None:
        return auth
    expected = send_signature(
        values.one("user") or b"",
        values.one("from") or b"",
        values.all("phone"),
        values.one("txt"),
        secret.encode("utf-8"),
    )
    # Exact lowercase hex, as section C specifies; upper case is a different string.
    if not hmac.compare_digest(expected.encode("ascii"), sign):
        return auth
    return SendVerdict(CODE_OK, TECH_MESSAGES[CODE_OK], request)


def _parse_send(values: _Values, image_ids: Collection[str]) -> SendRequest:
    """Apply section A parameter by parameter, in ``SEND_CHECK_ORDER``."""
    method = values.one("sending_method")
    if method is None or method.decode("latin-1") not in SENDING_METHODS:
        raise _ParamError("sending_method")
    sending_method = method.decode("ascii")

    sender_raw = values.one("from")
    if sender_raw is None:
        raise _ParamError("from")
    sender = _decode(sender_raw, "utf-8", "from")
    if len(sender) > FROM_MAX_CHARS or not FROM_ALLOWED.fullmatch(sender):
        raise _ParamError("from")

    user_raw = values.one("user")
    if user_raw is None:
        raise _ParamError("user")
    user = _decode(user_raw, "utf-8", "user")

    phones_raw = values.all("phone")
    if not phones_raw or not all(PHONE_RE.fullmatch(phone) for phone in phones_raw):
        raise _ParamError("phone")
    phones = tuple(phone.decode("ascii") for phone in phones_raw)

    charset_raw = values.one("charset")
    charset = DEFAULT_CHARSET if charset_raw is None else charset_raw.decode("latin-1")
    if charset not in CHARSETS:
        raise _ParamError("charset")
    encoding = CHARSETS[charset]

    txt = _max_chars(values.one("txt"), TXT_MAX_CHARS, "txt", encoding)
    expiry_txt = values.one("expiry_txt")
    if expiry_txt is not None:
        _decode(expiry_txt, encoding, "expiry_txt")

    dlr = values.one("dlr")
    if dlr is not None and dlr not in DLR_VALUES:
        raise _ParamError("dlr")
    _check_int(values.one("dlr_timeout"), DLR_TIMEOUT_RANGE, "dlr_timeout")
    _check_int(values.one("delay"), DELAY_RANGE, "delay")

    image_id = _max_chars(values.one("image_id"), IMAGE_ID_MAX_CHARS, "image_id")
    if image_id is not None and image_id not in image_ids:
        raise _ParamError("image_id")
    button_text = _max_chars(values.one("button_text"), BUTTON_TEXT_MAX_CHARS, "button_text")
    button_link = _max_chars(values.one("button_link"), BUTTON_LINK_MAX_CHARS, "button_link")
    p_transaction_id_raw = values.one("p_transaction_id")
    p_transaction_id = (
        None
        if p_transaction_id_raw is None
        else _decode(p_transaction_id_raw, "utf-8", "p_transaction_id")
    )

    # Message kinds (section A): sms carries text only; a message needs txt or a picture.
    if sending_method == "sms" and (image_id or button_text or button_link):
        raise _ParamError("sending_method")
    if txt is None and image_id is None:
        raise _ParamError("txt")

    return SendRequest(user, sending_method, phones, dlr == b"1", p_transaction_id)


# --- Upload -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class UploadVerdict:
    """Section F's status; 0 means an image_id is to be issued."""

    status: int
    error: str | None = None


def image_format(data: bytes) -> str | None:
    """The image format by magic bytes, or None if it is not JPG, PNG or GIF."""
    for name, magics in IMAGE_MAGIC.items():
        if any(data.startswith(magic) for magic in magics):
            return name
    return None


def check_upload(parts: list[Part], accounts: Mapping[str, str]) -> UploadVerdict:
    """Judge an upload: 1 incorrect data, 2 signature, 3 size, 4 format, in that order."""

    def first(name: str) -> Part | None:
        return next((part for part in parts if part.name == name and part.data), None)

    def incorrect(what: str) -> UploadVerdict:
        return UploadVerdict(UPLOAD_INCORRECT_DATA, f"incorrect data ({what})")

    login, image, sign = first("login"), first("image"), first("sign")
    if login is None:
        return incorrect("login")
    if image is None:
        return incorrect("image")
    if sign is None:
        return incorrect("sign")
    try:
        login_text = login.data.decode("utf-8")
    except UnicodeDecodeError:
        return incorrect("login")
    secret = accounts.get(login_text)
    if secret is None:
        return incorrect("login")
    expected = upload_signature(login.data, image.data, secret.encode("utf-8"))
    if not hmac.compare_digest(expected.encode("ascii"), sign.data):
        return UploadVerdict(UPLOAD_BAD_SIGNATURE, UPLOAD_ERRORS[UPLOAD_BAD_SIGNATURE])
    if len(image.data) > UPLOAD_MAX_BYTES:
        return UploadVerdict(UPLOAD_TOO_LARGE, UPLOAD_ERRORS[UPLOAD_TOO_LARGE])
    if image_format(image.data) is None:
        return UploadVerdict(UPLOAD_BAD_FORMAT, UPLOAD_ERRORS[UPLOAD_BAD_FORMAT])
    return UploadVerdict(UPLOAD_OK)
