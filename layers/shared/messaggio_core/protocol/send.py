"""Sections A and B: what a producer puts on the queue, and the send request built from it.

Each rule below carries its source: [doc] the platform's document, [prev] its predecessor's,
[ours] this project's decision (docs/protocol.md says why).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, Final, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    ValidationError,
    model_validator,
)

from messaggio_core.protocol.encoding import SmsParts, UnencodableText, encode, sms_parts
from messaggio_core.protocol.ids import IMAGE_ID_MAX, TRANSACTION_ID_PATTERN
from messaggio_core.protocol.signature import send_signature

TXT_MAX: Final = 2048  # [doc] String(2048)
SENDER_MAX: Final = 11  # [doc] String(11)
# [prev] "Latin letters, numbers, space and some special characters"; which punctuation is
# [ours]: the printable ASCII marks that operators commonly register in sender names.
SENDER_PATTERN: Final = re.compile(r"[A-Za-z0-9 !#&'()*+,\-./:;?@_]+")
BUTTON_TEXT_MAX: Final = 30  # [prev]
BUTTON_LINK_MAX: Final = 2048  # [prev]
DELAY_MAX_MINUTES: Final = 10_080  # [prev] a week
DLR_TIMEOUT_MIN: Final = 60  # [doc]
DLR_TIMEOUT_MAX: Final = 86_400  # [doc]; the predecessor said 14 days, [doc] wins
EXPIRY_TXT_MAX: Final = 2048  # [ours] the same bound as txt
# [doc] digits only, no "+"; [ours] 7 to 15 digits: E.164 caps a number at 15.
PHONE_PATTERN: Final = re.compile(r"[0-9]{7,15}")
# [ours] one send's records fit one DynamoDB transaction (100 items), with room to spare.
MAX_RECIPIENTS: Final = 50
S3_REF_PATTERN: Final = re.compile(
    r"s3://(?P<bucket>[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9])/(?P<key>.+)"
)

Charset = Literal["UTF8", "UTF-8", "UTF-16BE", "UCS-2", "CP1251"]  # [doc]


class Kind(StrEnum):
    """[doc 1.1] the message kinds, decided by which parameters are present."""

    TEXT = "text"
    PICTURE = "picture"
    TEXT_BUTTON = "text+button"
    TEXT_PICTURE_BUTTON = "text+picture+button"


def _empty_is_absent(value: Any) -> Any:
    """[prev] a parameter with an empty value counts as not sent."""
    return None if value == "" else value


Text = Annotated[str | None, BeforeValidator(_empty_is_absent)]
Number = Annotated[StrictInt | None, BeforeValidator(_empty_is_absent)]


class SendBody(BaseModel):
    """[ours, section B] one queue message: section A's parameters under the same names,
    except `user` and `sign`, which the connector adds; `image` may replace `image_id`."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    sending_method: Literal["viber", "sms"]  # [doc]
    sender: str = Field(alias="from")
    phone: list[StrictStr]
    txt: Text = None
    p_transaction_id: Text = None
    charset: Annotated[Charset | None, BeforeValidator(_empty_is_absent)] = None
    dlr: Annotated[Literal[0, 1] | None, BeforeValidator(_empty_is_absent)] = None
    dlr_timeout: Number = None
    expiry_txt: Text = None
    image_id: Text = None
    image: Text = None
    button_text: Text = None
    button_link: Text = None
    delay: Number = None

    @model_validator(mode="after")
    def _rules(self) -> SendBody:
        problems = list(_field_rules(self))
        if problems:
            raise ValueError("\n".join(problems))
        return self


def _field_rules(body: SendBody) -> list[str]:
    """One readable message per broken rule; never echoes a phone number or a text."""
    out: list[str] = []
    if not 1 <= len(body.sender) <= SENDER_MAX:
        out.append(f"from: must be 1 to {SENDER_MAX} characters")
    elif not SENDER_PATTERN.fullmatch(body.sender):
        out.append("from: only Latin letters, digits, space and !#&'()*+,-./:;?@_ are allowed")
    if not body.phone:
        out.append("phone: at least one recipient is required")
    elif len(body.phone) > MAX_RECIPIENTS:
        out.append(f"phone: at most {MAX_RECIPIENTS} recipients per message")
    for i, number in enumerate(body.phone):
        if not PHONE_PATTERN.fullmatch(number):
            out.append(f"phone[{i}]: must be 7 to 15 digits, no '+' or spaces")
    if len(set(body.phone)) != len(body.phone):
        out.append("phone: the same number appears twice (its msg_id would be ambiguous)")
    if body.txt is not None and len(body.txt) > TXT_MAX:
        out.append(f"txt: must be at most {TXT_MAX} characters")
    if body.expiry_txt is not None and len(body.expiry_txt) > EXPIRY_TXT_MAX:
        out.append(f"expiry_txt: must be at most {EXPIRY_TXT_MAX} characters")
    for name in ("txt", "expiry_txt"):
        value = getattr(body, name)
        if value is not None:
            try:
                encode(value, body.charset)
            except UnencodableText as exc:
                points = ", ".join(f"U+{ord(c):04X}" for c in exc.chars[:3])
                out.append(
                    f"{name}: has characters that {exc.charset} cannot carry ({points}); "
                    "use charset UTF-8"
                )
    if body.p_transaction_id is not None and not TRANSACTION_ID_PATTERN.fullmatch(
        body.p_transaction_id
    ):
        out.append("p_transaction_id: must be 1 to 64 of A-Z a-z 0-9 . _ : -")
    if body.dlr_timeout is not None and not (
        DLR_TIMEOUT_MIN <= body.dlr_timeout <= DLR_TIMEOUT_MAX
    ):
        out.append(f"dlr_timeout: must be {DLR_TIMEOUT_MIN} to {DLR_TIMEOUT_MAX} seconds")
    if body.delay is not None and not 0 <= body.delay <= DELAY_MAX_MINUTES:
        out.append(f"delay: must be 0 to {DELAY_MAX_MINUTES} minutes")
    if body.image_id is not None and len(body.image_id) > IMAGE_ID_MAX:
        out.append(f"image_id: must be at most {IMAGE_ID_MAX} characters")
    if body.image is not None and not S3_REF_PATTERN.fullmatch(body.image):
        out.append("image: must be s3://bucket/key")
    if body.image is not None and body.image_id is not None:
        out.append("image: give image or image_id, not both")
    if body.button_text is not None and len(body.button_text) > BUTTON_TEXT_MAX:
        out.append(f"button_text: must be at most {BUTTON_TEXT_MAX} characters")
    if body.button_link is not None and len(body.button_link) > BUTTON_LINK_MAX:
        out.append(f"button_link: must be at most {BUTTON_LINK_MAX} characters")
    out.extend(_kind_rules(body))
    return out


def _kind_rules(body: SendBody) -> list[str]:
    has_image = body.image_id is not None or body.image is not None
    has_button = body.button_text is not None or body.button_link is not None
    if body.sending_method == "sms":
        # [ours] an SMS carries text only.
        out = []
        if has_image:
            out.append("image_id: a picture cannot be sent by sms")
        if has_button:
            out.append("button_text: a button cannot be sent by sms")
        if body.txt is None:
            out.append("txt: is required for sms")
        if body.expiry_txt is not None:
            out.append("expiry_txt: only a viber message has an SMS fallback text")
        return out
    if not has_image and body.txt is None:
        return ["txt: is required unless the message is a picture (image or image_id)"]
    full_button = body.button_text is not None and body.button_link is not None
    if has_image and body.txt is None and has_button:
        return ["button_text: a picture with a button also needs txt"]
    if has_image and body.txt is not None and not full_button:
        # [ours] text + picture without a (complete) button is none of the four kinds.
        return ["image: text + picture needs a button (button_text and button_link)"]
    return []


@dataclass(frozen=True, slots=True)
class S3Ref:
    bucket: str
    key: str

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


@dataclass(frozen=True, slots=True)
class Message:
    """A validated send, ready to be signed and submitted once the image is resolved."""

    body: SendBody
    p_transaction_id: str
    kind: Kind
    warnings: tuple[str, ...]
    sms: SmsParts | None  # the SMS cost: of txt for sms, of the fallback text for viber

    @property
    def recipients(self) -> list[str]:
        return list(self.body.phone)

    @property
    def image(self) -> S3Ref | None:
        match = S3_REF_PATTERN.fullmatch(self.body.image) if self.body.image else None
        return S3Ref(match["bucket"], match["key"]) if match else None

    @property
    def needs_image(self) -> bool:
        return self.body.image is not None

    def form(
        self, user: str, secret_key: str, image_id: str | None = None
    ) -> list[tuple[str, bytes]]:
        """Section A's form fields, in a fixed order, with section C's signature.

        Values are bytes so that `txt` and `expiry_txt` go out in the request's charset.
        [ours] `dlr` is always 1 and `p_transaction_id` always sent, so that every report
        can be joined to its send.
        """
        b = self.body
        image_id = image_id if image_id is not None else b.image_id
        if self.needs_image and image_id is None:
            raise ValueError("the image must be resolved to an image_id before signing")
        txt = encode(b.txt, b.charset) if b.txt is not None else None
        fields: list[tuple[str, bytes]] = [
            ("sending_method", b.sending_method.encode()),
            ("from", b.sender.encode()),
            ("user", user.encode()),
        ]
        if txt is not None:
            fields.append(("txt", txt))
        fields.extend(("phone", p.encode()) for p in b.phone)
        fields.append(("p_transaction_id", self.p_transaction_id.encode()))
        if b.charset is not None:
            fields.append(("charset", b.charset.encode()))
        fields.append(("dlr", b"1"))
        if b.dlr_timeout is not None:
            fields.append(("dlr_timeout", str(b.dlr_timeout).encode()))
        if b.expiry_txt is not None:
            fields.append(("expiry_txt", encode(b.expiry_txt, b.charset)))
        if image_id is not None:
            fields.append(("image_id", image_id.encode()))
        if self.kind in (Kind.TEXT_BUTTON, Kind.TEXT_PICTURE_BUTTON):
            assert b.button_text is not None and b.button_link is not None
            fields.append(("button_text", b.button_text.encode()))
            fields.append(("button_link", b.button_link.encode()))
        if b.delay is not None:
            fields.append(("delay", str(b.delay).encode()))
        sign = send_signature(user, b.sender, b.phone, txt, secret_key)
        fields.append(("sign", sign.encode()))
        return fields


class InvalidSendRequest(ValueError):
    """A queue body that can never be sent: one reason per broken rule."""

    def __init__(self, reasons: list[str]) -> None:
        self.reasons = reasons
        super().__init__("; ".join(reasons))


def parse_message(raw: str | bytes, fallback_id: str) -> Message:
    """A queue body to a Message, or InvalidSendRequest saying everything that is wrong.

    [ours, section B] without `p_transaction_id`, the SQS messageId (`fallback_id`) is used.
    """
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        # RecursionError: [ours] nested deeper than the parser goes is not a body either.
        raise InvalidSendRequest(["body: is not valid JSON"]) from None
    if not isinstance(data, dict):
        raise InvalidSendRequest(["body: must be a JSON object"])
    for forbidden in ("user", "sign"):
        if forbidden in data:
            data.pop(forbidden)
            extra = [f"{forbidden}: is added by the connector; leave it out"]
            break
    else:
        extra = []
    try:
        body = SendBody.model_validate(data)
    except ValidationError as exc:
        raise InvalidSendRequest(extra + _reasons(exc)) from None
    if extra:
        raise InvalidSendRequest(extra)
    return _message(body, fallback_id)


def _reasons(exc: ValidationError) -> list[str]:
    out: list[str] = []
    for err in exc.errors(include_input=False, include_url=False):
        where = ".".join(str(part) for part in err["loc"])
        if err["type"] == "value_error" and not where:
            out.extend(str(err["msg"]).removeprefix("Value error, ").splitlines())
        elif err["type"] == "extra_forbidden":
            out.append(f"{where}: is not a known field")
        elif err["type"] == "missing":
            out.append(f"{where}: is required")
        else:
            out.append(
                f"{where}: {str(err['msg']).removeprefix('Value error, ')[:1].lower()}"
                f"{str(err['msg']).removeprefix('Value error, ')[1:]}"
            )
    return out


def _message(body: SendBody, fallback_id: str) -> Message:
    warnings: list[str] = []
    has_image = body.image_id is not None or body.image is not None
    full_button = body.button_text is not None and body.button_link is not None
    if has_image and body.txt is not None:
        kind = Kind.TEXT_PICTURE_BUTTON
    elif has_image:
        kind = Kind.PICTURE
    elif full_button:
        kind = Kind.TEXT_BUTTON
    else:
        kind = Kind.TEXT
        lone = "button_text" if body.button_text is not None else "button_link"
        if body.button_text is not None or body.button_link is not None:
            # [doc] the platform shows the text alone; [ours] so the connector sends it
            # so (the lone field is left out) and says which field was missing.
            missing = "button_link" if lone == "button_text" else "button_text"
            warnings.append(f"{lone} without {missing}: sent as text without a button")
    if body.sending_method == "sms":
        parts: SmsParts | None = sms_parts(body.txt or "")
    else:
        # [doc 1.1] the SMS fallback sends expiry_txt if given, else txt.
        fallback = body.expiry_txt if body.expiry_txt is not None else body.txt
        parts = sms_parts(fallback) if fallback is not None else None
    return Message(
        body=body,
        p_transaction_id=body.p_transaction_id or fallback_id,
        kind=kind,
        warnings=tuple(warnings),
        sms=parts,
    )
