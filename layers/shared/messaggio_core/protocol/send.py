"""Sections A and B: what a producer puts on the queue, and the send request built from it.

Each rule below carries its source: [doc] the platform's document, [prev] its predecessor's,
[ours] this project's decision (docs/protocol.md says why).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache, partial
from typing import Annotated, Any, Final, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    StrictInt,
    StrictStr,
    TypeAdapter,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    model_validator,
)
from pydantic_core import ErrorDetails, InitErrorDetails, PydanticCustomError

from messaggio_core.protocol.encoding import SmsParts, UnencodableText, encode, sms_parts
from messaggio_core.protocol.ids import (
    IMAGE_ID_MAX,
    PHONE_PATTERN,
    S3_KEY_MAX_BYTES,
    S3_REF_PATTERN,
    TRANSACTION_ID_PATTERN,
    S3Ref,
)
from messaggio_core.protocol.signature import send_signature
from messaggio_core.protocol.surface import Kind

TXT_MAX: Final = 2048  # [doc] String(2048)
SENDER_MAX: Final = 11  # [doc] String(11)
# [prev] "Latin letters, numbers, space and some special characters"; which punctuation is
# [ours]: the printable ASCII marks that operators commonly register in sender names.
SENDER_PATTERN: Final = re.compile(r"[A-Za-z0-9 !#&'()*+,\-./:;?@_]+")
BUTTON_TEXT_MAX: Final = 30  # [prev]
BUTTON_LINK_MAX: Final = 2048  # [prev]
# [ours] a button opens a web address: https:// or http:// only (never javascript:, data:,
# file: or an app's scheme), and a URL has no spaces or control characters (RFC 3986).
BUTTON_LINK_PATTERN: Final = re.compile(r"https?://[^\s\x00-\x1f\x7f]+", re.IGNORECASE)
DELAY_MAX_MINUTES: Final = 10_080  # [prev] a week
DLR_TIMEOUT_MIN: Final = 60  # [doc]
DLR_TIMEOUT_MAX: Final = 86_400  # [doc]; the predecessor said 14 days, [doc] wins
EXPIRY_TXT_MAX: Final = 2048  # [ours] the same bound as txt
# [doc] digits only, no "+"; [ours] 7 to 15 digits (PHONE_PATTERN, protocol/ids.py). [ours] a
# leading "+" (E.164 as Twilio and Vonage users write it) is accepted and sent as digits.
# [ours] one send's records fit one DynamoDB transaction (100 items), with room to spare.
MAX_RECIPIENTS: Final = 50
# [ours] no C0 control character but newline and tab in a text a person reads: a NUL or an
# escape sequence is never meant, and some carriers cut a message at a NUL.
CONTROL_CHARACTER: Final = re.compile(r"[\x00-\x08\x0b-\x1f]")
# [ours] an unpaired surrogate (JSON allows "\ud800") is no character: no charset carries it.
SURROGATE: Final = re.compile(r"[\ud800-\udfff]")
# [ours] what one rejection shows: list elements broken the same way are named together
# (the first few, then a count), and at most this many reasons, so that a body with
# 10,000 phones or fields gives a reason (and a log line) of a few kilobytes.
PATHS_SHOWN: Final = 3
REASONS_SHOWN: Final = 20
UNKNOWN_NAME_SHOWN: Final = 40

Charset = Literal["UTF8", "UTF-8", "UTF-16BE", "UCS-2", "CP1251"]  # [doc]


# Each rule below is a check that names what is wrong (or None), declared on its field, so
# pydantic reports every field's broken rules at once, each under the field's path.
Check = Callable[[Any], str | None]


def _broken(problems: list[str], value: Any) -> Exception:
    """One validation error per problem, all at the field that has them."""
    if len(problems) == 1:
        return PydanticCustomError("rule", problems[0])
    return ValidationError.from_exception_data(
        "rules",
        [
            InitErrorDetails(type=PydanticCustomError("rule", p), loc=(), input=value)
            for p in problems
        ],
    )


def rules(*checks: Check) -> AfterValidator:
    """The field's checks, all of them run: a value given (None is a value not sent)."""

    def validate(value: Any) -> Any:
        if value is None:
            return value
        problems = [p for p in (check(value) for check in checks) if p is not None]
        if problems:
            raise _broken(problems, value)
        return value

    return AfterValidator(validate)


def at_most(limit: int) -> Check:
    return lambda value: f"must be at most {limit} characters" if len(value) > limit else None


def between(low: int, high: int, unit: str) -> Check:
    return lambda value: None if low <= value <= high else f"must be {low} to {high} {unit}"


def no_control_characters(value: str) -> str | None:
    found = CONTROL_CHARACTER.search(value)
    if found is None:
        return None
    return f"has a control character (U+{ord(found[0]):04X}): only newline and tab are allowed"


def no_surrogates(value: str) -> str | None:
    found = SURROGATE.search(value)
    return None if found is None else f"has an unpaired surrogate (U+{ord(found[0]):04X})"


def _sender(value: str) -> str | None:
    if not 1 <= len(value) <= SENDER_MAX:
        return f"must be 1 to {SENDER_MAX} characters"
    if not SENDER_PATTERN.fullmatch(value):
        return "only Latin letters, digits, space and !#&'()*+,-./:;?@_ are allowed"
    return None


def _transaction_id(value: str) -> str | None:
    if TRANSACTION_ID_PATTERN.fullmatch(value):
        return None
    return "must be 1 to 64 of A-Z a-z 0-9 . _ : - (and not . or ..)"


def _button_link(value: str) -> str | None:
    if BUTTON_LINK_PATTERN.fullmatch(value):
        return None
    return "must be an https:// or http:// address, without spaces or control characters"


def _image(value: str) -> str | None:
    match = S3_REF_PATTERN.fullmatch(value)
    if match is None or not S3Ref(match["bucket"], match["key"]).valid:
        return f"must be s3://bucket/key (a key of at most {S3_KEY_MAX_BYTES} bytes)"
    return None


def _phone(value: str) -> str:
    """[ours] E.164's leading "+" is dropped: the platform takes digits only [doc]."""
    digits = value.removeprefix("+")
    if not PHONE_PATTERN.fullmatch(digits):
        raise PydanticCustomError(
            "rule",
            "must be 7 to 15 digits, after an optional leading +, with no spaces or other signs",
        )
    return digits


def _recipients(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    """How many recipients is a rule of its own, reported alongside each broken number."""
    problems: list[InitErrorDetails] = []
    if isinstance(value, list) and not value:
        problems.append(_detail("at least one recipient is required"))
    elif isinstance(value, list) and len(value) > MAX_RECIPIENTS:
        problems.append(_detail(f"at most {MAX_RECIPIENTS} recipients per message"))
    try:
        phones = handler(value)
    except ValidationError as exc:
        problems.extend(_details(exc))
    else:
        if len(set(phones)) != len(phones):
            problems.append(
                _detail("the same number appears twice (its msg_id would be ambiguous)")
            )
    if problems:
        raise ValidationError.from_exception_data("phone", problems)
    return phones


def _added_by_connector(value: object) -> object:
    raise PydanticCustomError(
        "rule", "is added by the connector from its secret, so leave it out of the body"
    )


def _empty_is_absent(value: Any) -> Any:
    """[prev] a parameter with an empty value counts as not sent."""
    return None if value == "" else value


Text = Annotated[str | None, BeforeValidator(_empty_is_absent), rules(no_surrogates)]
# [ours] txt, expiry_txt, button_text (text a person reads) and image_id (an id): no
# control characters but newline and tab.
ReadText = Annotated[Text, rules(no_control_characters)]
Number = Annotated[StrictInt | None, BeforeValidator(_empty_is_absent)]
Phone = Annotated[StrictStr, AfterValidator(_phone)]
DlrTimeout = Annotated[Number, rules(between(DLR_TIMEOUT_MIN, DLR_TIMEOUT_MAX, "seconds"))]
AddedByConnector = Annotated[object, AfterValidator(_added_by_connector)]


class SendBody(BaseModel):
    """[ours, section B] one queue message: section A's parameters under the same names,
    except `user` and `sign`, which the connector adds; `image` may replace `image_id`.

    Every broken rule is reported, each under the path of the field it concerns: a field's
    own rules are declared on it; rules across fields (CROSS_FIELD_RULES) run over every
    field that passed its own.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    sending_method: Literal["viber", "sms"]  # [doc]
    sender: Annotated[str, rules(_sender)] = Field(alias="from")
    phone: Annotated[list[Phone], WrapValidator(_recipients)]
    txt: Annotated[ReadText, rules(at_most(TXT_MAX))] = None
    p_transaction_id: Annotated[Text, rules(_transaction_id)] = None
    charset: Annotated[Charset | None, BeforeValidator(_empty_is_absent)] = None
    dlr: Annotated[Literal[0, 1] | None, BeforeValidator(_empty_is_absent)] = None
    dlr_timeout: DlrTimeout = None
    expiry_txt: Annotated[ReadText, rules(at_most(EXPIRY_TXT_MAX))] = None
    image_id: Annotated[ReadText, rules(at_most(IMAGE_ID_MAX))] = None
    image: Annotated[Text, rules(_image)] = None
    button_text: Annotated[ReadText, rules(at_most(BUTTON_TEXT_MAX))] = None
    button_link: Annotated[Text, rules(at_most(BUTTON_LINK_MAX), _button_link)] = None
    delay: Annotated[Number, rules(between(0, DELAY_MAX_MINUTES, "minutes"))] = None
    # [ours] named so that sending them gets a reason that says why, not "not a known field".
    user: AddedByConnector = Field(default=None, exclude=True)
    sign: AddedByConnector = Field(default=None, exclude=True)

    @model_validator(mode="wrap")
    @classmethod
    def _every_rule(cls, data: Any, handler: ModelWrapValidatorHandler[SendBody]) -> SendBody:
        """The fields' own rules, then the rules across fields over those that passed."""
        if not isinstance(data, dict):
            return handler(data)
        problems: list[InitErrorDetails] = []
        broken: set[str] = set()
        try:
            body = handler(data)
        except ValidationError as exc:
            problems = _details(exc)
            broken = {str(e["loc"][0]) for e in exc.errors() if e["loc"]}
            body = _passed(data, broken)
        sent = frozenset(key for key, value in data.items() if value not in (None, ""))
        for rule in CROSS_FIELD_RULES:
            if broken.isdisjoint(rule.needs):
                problems.extend(
                    _detail(message, (field,)) for field, message in rule.check(body, sent)
                )
        if problems:
            raise ValidationError.from_exception_data(cls.__name__, problems)
        return body


def _detail(message: str, loc: tuple[str | int, ...] = ()) -> InitErrorDetails:
    return InitErrorDetails(type=PydanticCustomError("rule", message), loc=loc, input=None)


def _details(exc: ValidationError) -> list[InitErrorDetails]:
    """A validation error's details, to be raised again with others (their text kept)."""
    return [
        InitErrorDetails(type=PydanticCustomError(e["type"], e["msg"]), loc=e["loc"], input=None)
        for e in exc.errors(include_input=False, include_url=False)
    ]


@cache
def _field_validators() -> dict[str, tuple[str, TypeAdapter[Any]]]:
    """Each field's own validation on its own, by the name a body gives it."""
    return {
        info.alias or name: (name, TypeAdapter(_annotated(info.annotation, info.metadata)))
        for name, info in SendBody.model_fields.items()
    }


def _annotated(annotation: Any, metadata: list[Any]) -> Any:
    return Annotated[annotation, *metadata] if metadata else annotation


def _passed(data: dict[str, Any], broken: set[str]) -> SendBody:
    """A body of only the fields that passed their own rules (the others left unset)."""
    values = {
        name: adapter.validate_python(data[key])
        for key, (name, adapter) in _field_validators().items()
        if key in data and key not in broken
    }
    return SendBody.model_construct(**values)


# Rules across fields. `needs`: the fields that must have passed their own rules for the
# rule to say anything; `check` gets the body and which fields were sent (non-empty), and
# names each problem under a field the producer sent (or, for a missing one, its name).
Found = Iterable[tuple[str, str]]


@dataclass(frozen=True, slots=True)
class CrossFieldRule:
    needs: tuple[str, ...]
    check: Callable[[SendBody, frozenset[str]], Found]


def _encodable(name: str, body: SendBody, sent: frozenset[str]) -> Found:
    value = getattr(body, name)
    if value is None:
        return
    try:
        encode(value, body.charset)
    except UnencodableText as exc:
        points = ", ".join(f"U+{ord(c):04X}" for c in exc.chars[:3])
        yield name, f"has characters that {exc.charset} cannot carry ({points}): use charset UTF-8"


def _one_image(body: SendBody, sent: frozenset[str]) -> Found:
    if {"image", "image_id"} <= sent:
        yield "image", "give image or image_id, not both"


def _kind(body: SendBody, sent: frozenset[str]) -> Found:
    """[doc 1.1] the four kinds, and [ours] which combinations are refused."""
    images = [f for f in ("image", "image_id") if f in sent]
    buttons = [f for f in ("button_text", "button_link") if f in sent]
    if body.sending_method == "sms":
        # [ours] an SMS carries text only.
        yield from ((f, "a picture cannot be sent by sms") for f in images)
        yield from ((f, "a button cannot be sent by sms") for f in buttons)
        if "txt" not in sent:
            yield "txt", "is required for sms"
        if "expiry_txt" in sent:
            yield "expiry_txt", "only a viber message has an SMS fallback text"
    elif not images and "txt" not in sent:
        yield "txt", "is required unless the message is a picture (image or image_id)"
    elif images and "txt" not in sent and buttons:
        yield from ((f, "a picture with a button also needs txt") for f in buttons)
    elif images and "txt" in sent and len(buttons) < 2:
        # [ours] text + picture without a (complete) button is none of the four kinds.
        yield images[0], "text + picture needs a button (button_text and button_link)"


CROSS_FIELD_RULES: Final = (
    CrossFieldRule(("txt", "charset"), partial(_encodable, "txt")),
    CrossFieldRule(("expiry_txt", "charset"), partial(_encodable, "expiry_txt")),
    CrossFieldRule((), _one_image),
    CrossFieldRule(("sending_method",), _kind),
)


@dataclass(frozen=True, slots=True)
class Message:
    """A validated send, ready to be signed and submitted once the image is resolved."""

    body: SendBody
    p_transaction_id: str
    kind: Kind
    warnings: tuple[str, ...]
    sms: SmsParts | None  # the SMS it asks for: txt of an sms, expiry_txt of a viber send

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
    """A queue body that can never be sent: one reason per broken rule.

    `p_transaction_id` is the id the rejection is filed under: the body's own when it is
    usable, else the SQS messageId.
    """

    def __init__(self, reasons: list[str], p_transaction_id: str) -> None:
        self.reasons = reasons
        self.p_transaction_id = p_transaction_id
        super().__init__("; ".join(reasons))


def parse_message(raw: str | bytes, fallback_id: str) -> Message:
    """A queue body to a Message, or InvalidSendRequest saying everything that is wrong.

    [ours, section B] without `p_transaction_id`, the SQS messageId (`fallback_id`) is used;
    a body whose `p_transaction_id` is unusable is rejected under the messageId, and its
    reasons say so.
    """
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        # RecursionError: [ours] nested deeper than the parser goes is not a body either.
        raise InvalidSendRequest(["body: is not valid JSON"], fallback_id) from None
    if not isinstance(data, dict):
        raise InvalidSendRequest(["body: must be a JSON object"], fallback_id)
    try:
        body = SendBody.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors(include_input=False, include_url=False)
        reasons = _reasons(errors)
        given = data.get("p_transaction_id")
        if any(e["loc"][:1] == ("p_transaction_id",) for e in errors):
            ptid = fallback_id
            reasons.append(
                f"p_transaction_id: unusable, so this rejection is filed under the SQS "
                f"messageId {fallback_id}: query the status by that id"
            )
        else:
            ptid = given if isinstance(given, str) and given else fallback_id
        raise InvalidSendRequest(reasons, ptid) from None
    return _message(body, fallback_id)


def _reasons(errors: list[ErrorDetails]) -> list[str]:
    """One line per broken rule, `path: what is wrong`, never echoing a value.

    List elements broken the same way share a line; unknown fields come last (their
    names shortened); at most REASONS_SHOWN lines and a count of the rest.
    """
    known = [e for e in errors if e["type"] != "extra_forbidden"]
    unknown = [e for e in errors if e["type"] == "extra_forbidden"]
    grouped: dict[tuple[str, str], list[str]] = {}
    for err in known:
        field = _path(err["loc"][:1]) or "body"
        grouped.setdefault((field, _message_of(err)), []).append(_path(err["loc"]) or "body")
    out = [f"{_named(paths)}: {message}" for (_, message), paths in grouped.items()]
    out += [f"{_unknown_name(e['loc'])}: is not a known field" for e in unknown]
    if len(out) > REASONS_SHOWN:
        out = [*out[: REASONS_SHOWN - 1], f"body: {len(out) - REASONS_SHOWN + 1} more reasons"]
    return out


def _message_of(err: ErrorDetails) -> str:
    if err["type"] == "missing":
        return "is required"
    message = str(err["msg"])
    return message if err["type"] == "rule" else message[:1].lower() + message[1:]


def _path(loc: tuple[str | int, ...]) -> str:
    """One spelling of a field's path: `phone[0]`."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}" if out else str(part)
    return out


def _named(paths: list[str]) -> str:
    shown = ", ".join(dict.fromkeys(paths[:PATHS_SHOWN]))
    rest = len(paths) - PATHS_SHOWN
    return f"{shown} and {rest} more" if rest > 0 else shown


def _unknown_name(loc: tuple[str | int, ...]) -> str:
    """An unknown field's name as given, unless it is long or unprintable: no echo of a
    value a producer put in the wrong place."""
    name = str(loc[0]) if loc else ""
    # "; " separates a rejection's reasons: a name holding it would read as two reasons.
    if name.isprintable() and 0 < len(name) <= UNKNOWN_NAME_SHOWN and "; " not in name:
        return redact(name)
    return f"a field name of {len(name)} characters"


# [ours] a reason stored or logged never carries something that looks like a phone number.
_DIGITS: Final = re.compile(r"\d{7,}")


def redact(text: str) -> str:
    return _DIGITS.sub("<digits>", text)


def _message(body: SendBody, fallback_id: str) -> Message:
    warnings: list[str] = []
    has_image = body.image_id is not None or body.image is not None
    full_button = body.button_text is not None and body.button_link is not None
    if body.sending_method == "sms":
        kind = Kind.SMS  # a picture or a button was refused (_kind)
    elif has_image and body.txt is not None:
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
        # [ours] only the SMS the send itself asks for: its expiry_txt. A Viber-only send
        # has none ([doc 1.1]: a fallback the account's manager enabled would send txt; the
        # connector cannot know whether it is, so it counts no part for it).
        parts = sms_parts(body.expiry_txt) if body.expiry_txt is not None else None
    return Message(
        body=body,
        p_transaction_id=body.p_transaction_id or fallback_id,
        kind=kind,
        warnings=tuple(warnings),
        sms=parts,
    )
