"""Section E: delivery, seen and reply reports, and the order of recipient statuses.

[prev] the fields, the standard numeric statuses and the extended types. [ours] the ranks
(status only moves forward), the field limits and what is refused.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from messaggio_core.protocol.ids import MSG_ID_PATTERN, TRANSACTION_ID_PATTERN


class Status(StrEnum):
    SUBMITTED = "submitted"
    BUFFERED = "buffered"
    UNDELIVERED = "undelivered"
    EXPIRED = "expired"
    REJECTED = "rejected"
    DELIVERED = "delivered"
    SEEN = "seen"


# [ours] a failure ranks below delivered: the SMS fallback can still deliver after a Viber
# failure. A report never lowers a recipient's status.
RANK: Final[dict[Status, int]] = {
    Status.SUBMITTED: 0,
    Status.BUFFERED: 1,
    Status.UNDELIVERED: 2,
    Status.EXPIRED: 2,
    Status.REJECTED: 2,
    Status.DELIVERED: 3,
    Status.SEEN: 4,
}

# [prev] standard (SMS) report: status as a number.
STANDARD_STATUS: Final[dict[str, Status]] = {
    "0": Status.DELIVERED,
    "-1": Status.UNDELIVERED,
    "-2": Status.EXPIRED,
    "-3": Status.REJECTED,
}
# [prev] extended (Viber) `delivery` report statuses.
DELIVERY_STATUS: Final[dict[str, Status]] = {
    "delivered": Status.DELIVERED,
    "undelivered": Status.UNDELIVERED,
    "buffered": Status.BUFFERED,
}
# [prev] 2.1.1: the codes and what each means (protocol.md section E's wording).
STATUS_EXTENDED_REASON: Final[dict[str, str]] = {
    "VIBER_BLOCKED_BY_USER": "blocked the sender",
    "VIBER_USER_NOT_FOUND": "no Viber app",
    "VIBER_NO_DEVICE": "device cannot take these messages",
    "VIBER_EXPIRED": "dlr_timeout passed",
    "VIBER_UNKNOWN_ERROR": "unknown error",
}
STATUS_EXTENDED: Final = frozenset(STATUS_EXTENDED_REASON)

# [ours] limits (the ids' own: protocol/ids.py).
REPLY_MAX: Final = 4096  # characters of a subscriber's reply
# A handful of short fields, but a reply of REPLY_MAX characters percent-encoded takes up to
# 4,096 x 12 bytes (4-byte UTF-8 characters, 3 bytes each as %XX) plus the ids.
BODY_MAX_BYTES: Final = 65_536
# A report has a handful of fields; more than this is not a report (and a form parser would
# otherwise build whatever a caller sends).
MAX_FIELDS: Final = 32


class ReportType(StrEnum):
    DELIVERY = "delivery"  # standard reports are delivery reports too
    SEEN = "seen"
    REPLY = "reply"


@dataclass(frozen=True, slots=True)
class Report:
    type: ReportType
    msg_id: str
    p_transaction_id: str
    status: Status | None  # delivery and seen; None for a reply
    status_extended: str | None = None
    text: str | None = None  # reply


class InvalidReport(ValueError):
    """A report that cannot be understood: answered 400 (the platform stops retrying)."""


def parse_report(fields: Mapping[str, Sequence[str]]) -> Report:
    """A report from its query-string or form fields (each name to its values).

    Unknown extra fields are ignored: the platform may add some, and refusing them would
    lose real reports. A field given twice is refused: it would be ambiguous.
    """

    def one(name: str, required: bool = True) -> str | None:
        values = fields.get(name)
        if not values or values[0] == "":
            if required:
                raise InvalidReport(f"missing {name}")
            return None
        if len(values) > 1:
            raise InvalidReport(f"{name} given more than once")
        return values[0]

    msg_id = one("msg_id")
    ptid = one("p_transaction_id")
    assert msg_id is not None and ptid is not None
    if not MSG_ID_PATTERN.fullmatch(msg_id):
        raise InvalidReport("malformed msg_id")
    if not TRANSACTION_ID_PATTERN.fullmatch(ptid):
        raise InvalidReport("malformed p_transaction_id")
    kind = one("type", required=False)
    if kind is None:
        status = one("status")
        assert status is not None
        if status not in STANDARD_STATUS:
            raise InvalidReport("unknown status")
        return Report(ReportType.DELIVERY, msg_id, ptid, STANDARD_STATUS[status])
    if kind == ReportType.DELIVERY:
        status = one("status")
        assert status is not None
        if status not in DELIVERY_STATUS:
            raise InvalidReport("unknown status")
        extended = one("status_extended", required=False)
        if extended is not None and extended not in STATUS_EXTENDED:
            raise InvalidReport("unknown status_extended")
        return Report(ReportType.DELIVERY, msg_id, ptid, DELIVERY_STATUS[status], extended)
    if kind == ReportType.SEEN:
        return Report(ReportType.SEEN, msg_id, ptid, Status.SEEN)
    if kind == ReportType.REPLY:
        text = one("text")
        assert text is not None
        if len(text) > REPLY_MAX:
            raise InvalidReport("reply text too long")
        return Report(ReportType.REPLY, msg_id, ptid, None, text=text)
    raise InvalidReport("unknown type")


_TIE_ORDER: Final = {status: i for i, status in enumerate(Status)}


def order_key(status: Status) -> tuple[int, int]:
    """[ours] Section E's rank, ties (two failures) by a fixed order, never by arrival."""
    return RANK[status], _TIE_ORDER[status]


def highest(statuses: Iterable[Status]) -> Status:
    """The status a recipient shows: the highest rank reported.

    Ties (two failures) go by a fixed order, never by arrival, so any order of the same
    reports gives the same answer.
    """
    return max([Status.SUBMITTED, *statuses], key=order_key)
