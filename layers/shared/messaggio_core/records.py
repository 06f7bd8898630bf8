"""What is stored about a send, its recipients and their reports, and the status view of
section G built from it. Pure: the store fills these in; nothing here touches AWS."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from messaggio_core.protocol.optout import OPTED_OUT
from messaggio_core.protocol.reports import Status, highest, order_key


@dataclass(frozen=True, slots=True)
class Reply:
    text: str
    received_at: str


@dataclass(slots=True)
class RecipientRecord:
    """What the reports said about one msg_id (the phone comes from the send's record)."""

    msg_id: str
    reported: dict[Status, str] = field(default_factory=dict)  # status -> first arrival
    status_extended: str | None = None
    replies: list[Reply] = field(default_factory=list)
    updated_at: str | None = None  # the last report stored for it

    @property
    def status(self) -> Status:
        return highest(self.reported)

    def progress(self) -> list[tuple[Status, str]]:
        """Every status reported, by rank (the last is the status shown), each with the time
        it was known to have been reached: its own report, or an earlier report of a later
        status (a status only moves forward, so a late report of a lower rank happened
        before it). Read by rank or by time, it never goes backwards, and any order of the
        same reports lists the same statuses."""
        steps: list[tuple[Status, str]] = []
        earliest: str | None = None
        for status in sorted(self.reported, key=order_key, reverse=True):
            at = self.reported[status]
            earliest = at if earliest is None else min(earliest, at)
            steps.append((status, earliest))
        return steps[::-1]


@dataclass(frozen=True, slots=True)
class SendRecord:
    p_transaction_id: str
    state: str
    reason: str | None
    phones: tuple[str, ...]
    msg_ids: dict[str, str]  # phone -> msg_id, from the platform's answer
    kind: str | None
    sms_parts: int | None
    claimed_at: float | None
    claim: str | None
    attempts: int
    created_at: str | None
    updated_at: str | None
    warnings: tuple[str, ...] = ()  # what the connector dropped or adjusted
    # recipients on the opt-out list when the send was claimed: never sent, no msg_id
    opted_out: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class OptOutEntry:
    """One phone on the suppression list (account-wide): when, how, and what it answered."""

    phone: str
    opted_out_at: str
    source: str  # "keyword" (a reply) or "api" (PUT /opt-outs/{phone})
    keyword: str | None = None  # the keyword as configured, never the reply's own text
    p_transaction_id: str | None = None  # the send the reply answered
    msg_id: str | None = None
    caller: str | None = None  # the IAM identity of an API call

    def view(self) -> dict[str, Any]:
        return {
            "phone": self.phone,
            "opted_out_at": self.opted_out_at,
            "source": self.source,
            "keyword": self.keyword,
            "p_transaction_id": self.p_transaction_id,
            "msg_id": self.msg_id,
            "caller": self.caller,
        }


@dataclass(frozen=True, slots=True)
class Lifecycle:
    """A send and the recipients read with it; `next`: the cursor of the following page
    (opaque: the store makes and reads it), None when nothing is left."""

    send: SendRecord
    recipients: list[RecipientRecord]
    next: str | None = None


class BadPage(ValueError):
    """A page cursor the store did not make."""


def status_view(
    send: SendRecord,
    recipients: list[RecipientRecord],
    *,
    first: bool = True,
    next_page: str | None = None,
) -> dict[str, Any]:
    """GET /messages/{id} (section G). The first page has one entry per phone sent, in
    order, then any msg_id known only from reports (a send whose answer was lost, or a report
    that came first); a later page (`first` False) has the recipients read for it. `next`:
    where the following page starts (None: this answer holds the rest)."""
    by_msg_id = {r.msg_id: r for r in recipients}
    out: list[dict[str, Any]] = []
    if first:
        for phone in send.phones:
            if phone in send.opted_out:
                out.append({**_recipient(phone, None), "status": OPTED_OUT})
                continue
            msg_id = send.msg_ids.get(phone)
            record = by_msg_id.get(msg_id, RecipientRecord(msg_id)) if msg_id else None
            out.append(_recipient(phone, record))
        known = set(send.msg_ids.values())
        out.extend(_recipient(None, r) for r in recipients if r.msg_id not in known)
    else:
        phone_of = {msg_id: phone for phone, msg_id in send.msg_ids.items()}
        out.extend(_recipient(phone_of.get(r.msg_id), r) for r in recipients)
    return {
        "p_transaction_id": send.p_transaction_id,
        "state": send.state,
        "reason": send.reason,
        "kind": send.kind,
        "sms_parts": send.sms_parts,
        "attempts": send.attempts,
        "created_at": send.created_at,
        "updated_at": _last_change(send, recipients),
        "warnings": list(send.warnings),
        "recipients": out,
        "next": next_page,
    }


def _last_change(send: SendRecord, recipients: list[RecipientRecord]) -> str | None:
    """When anything about the send was last stored: the send itself, a report or a reply
    (every time is the same ISO 8601 UTC format, so the latest is the greatest)."""
    times = [send.updated_at] if send.updated_at else []
    for r in recipients:
        times.extend(r.reported.values())
        times.extend(reply.received_at for reply in r.replies)
        if r.updated_at:
            times.append(r.updated_at)
    return max(times, default=None)


def _recipient(phone: str | None, record: RecipientRecord | None) -> dict[str, Any]:
    if record is None:
        return {
            "phone": phone,
            "msg_id": None,
            "status": None,
            "status_extended": None,
            "replies": [],
        }
    replies = sorted(record.replies, key=lambda r: (r.received_at, r.text))
    return {
        "phone": phone,
        "msg_id": record.msg_id,
        "status": record.status.value,
        "status_extended": record.status_extended,
        "reported": {s.value: at for s, at in record.progress()},
        "replies": [{"text": r.text, "received_at": r.received_at} for r in replies],
    }


# -- changes, as a table stream reports them (the events function's input) ----------------


@dataclass(frozen=True, slots=True)
class SendChange:
    """A send's own item before and after one write (None: absent)."""

    old: SendRecord | None
    new: SendRecord | None


@dataclass(frozen=True, slots=True)
class RecipientChange:
    """One recipient's reports before and after one write (None: absent)."""

    p_transaction_id: str
    old: RecipientRecord | None
    new: RecipientRecord | None


@dataclass(frozen=True, slots=True)
class ReplyChange:
    """A reply item before and after one write (None: absent; a reply is written once, and
    removed only by TTL)."""

    p_transaction_id: str
    msg_id: str
    digest: str  # the reply's key: the hash of its text
    old: Reply | None
    new: Reply | None


@dataclass(frozen=True, slots=True)
class OptIn:
    """How a phone came off the list: what its remover marked the entry with, just before
    removing it (a removal leaves no item to say so)."""

    opted_in_at: str
    source: str  # "keyword" (a START reply) or "api" (DELETE /opt-outs/{phone})
    keyword: str | None = None  # the keyword as configured
    p_transaction_id: str | None = None  # the send the reply answered
    msg_id: str | None = None


@dataclass(frozen=True, slots=True)
class OptOutChange:
    """One phone's opt-out entry before and after one write (None: absent). `at`: when the
    write was stored (the stream record's time, in whole seconds); `opt_in`: for a removal,
    how the phone came off the list (None for an entry removed by hand, unmarked)."""

    phone: str
    old: OptOutEntry | None
    new: OptOutEntry | None
    at: str | None = None
    opt_in: OptIn | None = None


type ItemChange = SendChange | RecipientChange | ReplyChange | OptOutChange
