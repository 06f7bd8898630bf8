"""What the routes decide, free of HTTP and AWS: is a callback genuine, is it a report,
store it (and, for an opt-out keyword, change the list with it); the status of one send; the
opt-out list's entries. The handler maps each outcome to an answer.

Section E's order of checks: genuine first (403, nothing read), then well formed (400), then
stored (200, or 503 so that the platform retries).
"""

from __future__ import annotations

import json
from base64 import b64decode, urlsafe_b64decode, urlsafe_b64encode
from binascii import Error as BinasciiError
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Network, IPv6Network, ip_address, ip_network
from typing import Any, Final, Protocol
from urllib.parse import parse_qs, unquote, urlencode

from messaggio_core.protocol.ids import TRANSACTION_ID_PATTERN
from messaggio_core.protocol.optout import (
    DEFAULT_KEYWORDS,
    KeywordMatch,
    Keywords,
    normalise_phone,
)
from messaggio_core.protocol.reports import (
    BODY_MAX_BYTES,
    MAX_FIELDS,
    InvalidReport,
    Report,
    ReportType,
    parse_report,
)
from messaggio_core.protocol.signature import same_secret
from messaggio_core.protocol.surface import STATUS_PAGE_ITEMS
from messaggio_core.records import BadPage, Lifecycle, OptOutEntry, status_view

STORAGE: Final = "storage"
CREDENTIALS: Final = "credentials"

type Network = IPv4Network | IPv6Network


class ReportStore(Protocol):
    """The part of messaggio_core.dal.messages.MessageStore these routes use."""

    def record_report(self, report: Report, with_write: dict[str, Any] | None = None) -> bool: ...

    def recipient_phone(self, ptid: str, msg_id: str) -> str | None: ...

    def lifecycle(
        self, ptid: str, *, page: str | None = None, limit: int | None = None
    ) -> Lifecycle | None: ...


class OptOutList(Protocol):
    """The part of messaggio_core.dal.optouts.OptOutStore these routes use."""

    def keyword_write(
        self, match: KeywordMatch, phone: str, p_transaction_id: str, msg_id: str
    ) -> dict[str, Any]: ...

    def entry(self, phone: str) -> OptOutEntry | None: ...

    def add(self, phone: str, caller: str | None) -> tuple[OptOutEntry, bool]: ...

    def remove(self, phone: str) -> bool: ...

    def page(self, limit: int, after: str | None) -> tuple[list[OptOutEntry], str | None]: ...


class Forbidden(Exception):
    """Wrong token or source address: 403 with no detail, nothing read or stored."""


class MalformedId(ValueError):
    """A status query whose id cannot be a p_transaction_id, or whose `next` is not a page
    cursor the store made: 400."""


class Unavailable(Exception):
    """The table or the secret could not be read or written: 503, so the caller retries.

    `what` is STORAGE or CREDENTIALS; `report` is set when a parsed report was not stored
    (for the log's correlation id)."""

    def __init__(self, what: str, report: Report | None = None) -> None:
        super().__init__(f"{what} unavailable")
        self.what = what
        self.report = report


@dataclass(frozen=True, slots=True)
class Callback:
    """One call to the callback route, as received."""

    token: str
    source_ip: str | None
    query: Mapping[str, Sequence[str]]  # decoded by API Gateway
    body: str | None  # the form body (POST) as API Gateway passed it
    base64: bool = False  # API Gateway's isBase64Encoded
    content_type: str | None = None  # the request's Content-Type header, if any


@dataclass(frozen=True, slots=True)
class AllowList:
    """CALLBACK_ALLOWED_CIDRS as read: the networks a caller's address must be in (none:
    any address), or why the setting could not be read. [ours] An unreadable list allows
    no one (403), rather than failing every call (500) or guessing what was meant."""

    networks: tuple[Network, ...] = ()
    broken: str | None = None

    def allows(self, source_ip: str | None) -> bool:
        if self.broken is not None:
            return False
        return not self.networks or source_allowed(source_ip, self.networks)


def read_allow_list(text: str) -> AllowList:
    """ "a, b" -> AllowList. Each entry is an address or a network with no host bits set:
    203.0.113.7/24 is refused (did it mean the /24 or the one address?), never widened.
    A network matches only addresses of its own family, so ::/0 allows IPv6 only and
    0.0.0.0/0 IPv4 only; an empty setting allows any."""
    networks: list[Network] = []
    for entry in (part.strip() for part in text.split(",")):
        if not entry:
            continue
        try:
            networks.append(ip_network(entry, strict=True))
        except ValueError as exc:
            return AllowList(broken=f"{entry!r} is not a CIDR range or address: {exc}")
    return AllowList(tuple(networks))


@dataclass(frozen=True, slots=True)
class Receipt:
    report: Report
    stored: bool  # False: a repeat, already stored, nothing changed
    keyword: KeywordMatch | None = None  # an opt-out or resume keyword, applied when stored
    unresolved: bool = False  # a keyword whose recipient's phone is not known: not applied


def receive(
    call: Callback,
    *,
    allowed: AllowList,
    expected_token: Callable[[], str],
    store: ReportStore,
    optouts: OptOutList,
    keywords: Keywords = DEFAULT_KEYWORDS,
) -> Receipt:
    """Section E, one report: raises Forbidden, InvalidReport or Unavailable.

    A reply that is an opt-out or resume keyword also changes the list, in the reply's own
    transaction (so exactly once, whatever the platform repeats); any other report is still
    one write with no read. The phone comes from the send's record (reports carry none)."""
    ensure_genuine(call, allowed, expected_token)
    try:
        report = parse_report(report_fields(call))
    except InvalidReport:
        raise
    except Exception as exc:  # never a 500 for bad input, whatever shape it takes
        raise InvalidReport("unreadable report") from exc
    match = keywords.match(report.text) if report.type is ReportType.REPLY and report.text else None
    try:
        write = _keyword_write(report, match, store, optouts) if match else None
        stored = store.record_report(report, write)
    except Exception as exc:  # whatever the store raised, nothing was stored: retry
        raise Unavailable(STORAGE, report) from exc
    return Receipt(report, stored, match if write else None, unresolved=bool(match and not write))


def _keyword_write(
    report: Report, match: KeywordMatch, store: ReportStore, optouts: OptOutList
) -> dict[str, Any] | None:
    phone = store.recipient_phone(report.p_transaction_id, report.msg_id)
    if phone is None:
        return None
    return optouts.keyword_write(match, phone, report.p_transaction_id, report.msg_id)


def ensure_genuine(
    call: Callback,
    allowed: AllowList,
    expected_token: Callable[[], str],
) -> None:
    """The allow-list first (no secret read for a stranger), then the token in constant time.
    The secret is read only here, lazily; its failure is Unavailable (retry later)."""
    if not allowed.allows(call.source_ip):
        raise Forbidden("source" if allowed.broken is None else "allow-list unreadable")
    try:
        expected = expected_token()
    except Exception as exc:
        raise Unavailable(CREDENTIALS) from exc
    if not same_secret(call.token, expected):
        raise Forbidden("token")


def source_allowed(source_ip: str | None, allowed: Sequence[Network]) -> bool:
    if not source_ip:
        return False
    try:
        address = ip_address(source_ip)
    except ValueError:
        return False
    return any(address in network for network in allowed)


def report_fields(call: Callback) -> dict[str, list[str]]:
    """The report's fields: the form body when there is one, else the query string.

    Any content type but JSON is read as a form (the platform's is not guaranteed); [ours] a
    JSON body (Content-Type application/json or +json) is read as an object of the same
    fields. Size is measured on the wire form (the body, or the query string re-encoded), so
    GET and POST of the same report get the same answer. Undecodable percent-escapes become
    U+FFFD rather than a refusal: the ids are ASCII, and a reply with one bad byte is still
    worth keeping.
    """
    if call.body:
        raw = _body_bytes(call.body, call.base64)
        if len(raw) > BODY_MAX_BYTES:
            raise InvalidReport("body too large")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidReport("body is not UTF-8") from None
        if is_json(call.content_type):
            return _json_fields(text)
        try:
            return parse_qs(
                text,
                keep_blank_values=True,
                strict_parsing=False,
                encoding="utf-8",
                errors="replace",
                max_num_fields=MAX_FIELDS,
            )
        except ValueError:
            raise InvalidReport("too many fields") from None
    fields = {name: list(values) for name, values in call.query.items()}
    if sum(len(values) for values in fields.values()) > MAX_FIELDS:
        raise InvalidReport("too many fields")
    if len(urlencode(fields, doseq=True).encode()) > BODY_MAX_BYTES:
        raise InvalidReport("query too large")
    return fields


def is_json(content_type: str | None) -> bool:
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


def _json_fields(text: str) -> dict[str, list[str]]:
    """A JSON report: one object whose values are strings (numbers are read as their text,
    e.g. a standard report's `"status": 0`); anything else is not a report."""
    try:
        data = json.loads(text)
    except ValueError:
        raise InvalidReport("body is not valid JSON") from None
    if not isinstance(data, dict):
        raise InvalidReport("JSON body must be an object of report fields")
    if len(data) > MAX_FIELDS:
        raise InvalidReport("too many fields")
    fields: dict[str, list[str]] = {}
    for name, value in data.items():
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise InvalidReport("JSON report fields must be strings or whole numbers")
        fields[name] = [str(value)]
    return fields


def _body_bytes(body: str, base64: bool) -> bytes:
    if not base64:
        return body.encode("utf-8")
    if len(body) > BODY_MAX_BYTES * 4 // 3 + 4:  # not worth decoding to find out
        raise InvalidReport("body too large")
    try:
        return b64decode(body, validate=True)
    except (BinasciiError, ValueError):
        raise InvalidReport("body is not base64") from None


def message_status(ptid: str, store: ReportStore, page: str | None = None) -> dict[str, Any] | None:
    """Section G's view of one send (one page of it: at most STATUS_PAGE_ITEMS report and
    reply items an answer, so an answer stays far below Lambda's 6 MB), or None when the id
    is unknown."""
    if not TRANSACTION_ID_PATTERN.fullmatch(ptid):
        raise MalformedId("malformed id")
    try:
        found = store.lifecycle(ptid, page=page, limit=STATUS_PAGE_ITEMS)
    except BadPage as exc:
        raise MalformedId(str(exc)) from None
    except Exception as exc:  # the query failed: nothing to show yet, retry
        raise Unavailable(STORAGE) from exc
    if found is None:
        return None
    return status_view(found.send, found.recipients, first=page is None, next_page=found.next)


# -- the opt-out list (IAM-authorised routes) ------------------------------------------------

PAGE_DEFAULT: Final = 100
PAGE_MAX: Final = 1000


class InvalidPage(ValueError):
    """A list request whose `next` or `limit` cannot be used: 400 with this reason."""


def opt_out_entry(raw_phone: str, optouts: OptOutList) -> dict[str, Any] | None:
    """GET /opt-outs/{phone}: the entry, or None when the phone is not on the list."""
    phone = _phone(raw_phone)
    entry = _stored(optouts.entry, phone)
    return entry.view() if entry is not None else None


def add_opt_out(
    raw_phone: str, caller: str | None, optouts: OptOutList
) -> tuple[dict[str, Any], bool]:
    """PUT /opt-outs/{phone}: the entry, and whether it is new (an existing one is kept)."""
    phone = _phone(raw_phone)
    entry, created = _stored(optouts.add, phone, caller)
    return entry.view(), created


def remove_opt_out(raw_phone: str, optouts: OptOutList) -> bool:
    """DELETE /opt-outs/{phone}: False when the phone was not on the list."""
    return bool(_stored(optouts.remove, _phone(raw_phone)))


def list_opt_outs(token: str | None, limit: str | None, optouts: OptOutList) -> dict[str, Any]:
    """GET /opt-outs: one page in phone order; `next` is an opaque token while more remain."""
    size = _page_size(limit)
    after = _after(token) if token else None
    entries, last = _stored(optouts.page, size, after)
    return {
        "opt_outs": [entry.view() for entry in entries],
        "next": _token(last) if last is not None else None,
    }


def _phone(raw: str) -> str:
    """The path's phone (as sent, or still percent-encoded: %2B for '+'), or InvalidPhone."""
    return normalise_phone(unquote(raw))


def _stored[T](fn: Callable[..., T], *args: object) -> T:
    try:
        return fn(*args)
    except Exception as exc:  # the table failed: nothing changed, retry
        raise Unavailable(STORAGE) from exc


def _page_size(limit: str | None) -> int:
    if limit is None:
        return PAGE_DEFAULT
    if not (limit.isascii() and limit.isdigit()) or not 1 <= int(limit) <= PAGE_MAX:
        raise InvalidPage(f"limit: must be a whole number from 1 to {PAGE_MAX}")
    return int(limit)


# [ours] the token is the last phone of the page, versioned and base64url-encoded: opaque to
# callers, and any value it may be decoded to is only a starting point in the list.
_PAGE_MARK: Final = "v1:"


def _token(last_phone: str) -> str:
    return urlsafe_b64encode((_PAGE_MARK + last_phone).encode()).decode().rstrip("=")


def _after(token: str) -> str:
    try:
        text = urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        if not text.startswith(_PAGE_MARK):
            raise ValueError(text)
        return normalise_phone(text.removeprefix(_PAGE_MARK))
    except ValueError:  # binascii.Error, UnicodeDecodeError and InvalidPhone are ValueErrors
        raise InvalidPage("next: not a token this API issued") from None
