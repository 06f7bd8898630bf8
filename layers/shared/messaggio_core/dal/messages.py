"""Sends, recipients and reports in the messages table.

Table layout (one table, `pk` + `sk`, TTL on `expires_at`):

    TX#<p_transaction_id>  SEND                    the send: state, claim, phones, reason,
                                                   msg_ids (phone -> msg_id, from the answer),
                                                   warnings, rejected_by, updated_at
    TX#<p_transaction_id>  MSG#<msg_id>            a recipient's reports: one attribute per
                                                   reported status (r_delivered, r_seen, ...),
                                                   updated_at (the last report stored)
    TX#<p_transaction_id>  MSG#<msg_id>#R#<hash>   one reply (hash of its text)
    OPTOUT                 PHONE#<digits>          the opt-out list (dal/optouts.py)

A report knows only `p_transaction_id` and `msg_id`, which is exactly a recipient's key, so
it is one write with no read. Reports write facts ("delivered was reported at T"), never
"the status is X", so any order of the same reports stores the same facts, and the status
shown is computed on read (section E's ranks). GET /messages/{id} is one Query.

[ours] A rejection records who refused (`rejected_by`): the connector (the body broke a rule,
or its image was refused) or the platform (-1, -3). Only an id that reached the platform is
spent: one the connector refused may be claimed again by a corrected body.
"""

from __future__ import annotations

import hashlib
import re
from base64 import urlsafe_b64decode, urlsafe_b64encode
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

from messaggio_core.dal.common import (
    ConditionFailed,
    TableStore,
    aws_errors,
    from_item,
    now_iso,
    to_item,
)
from messaggio_core.dal.optouts import PARTITION as OPTOUT_PARTITION
from messaggio_core.dal.optouts import entry_change
from messaggio_core.protocol.ids import MSG_ID_PATTERN
from messaggio_core.protocol.reports import Report, ReportType, Status
from messaggio_core.protocol.surface import State
from messaggio_core.records import (
    BadPage,
    ItemChange,
    Lifecycle,
    RecipientChange,
    RecipientRecord,
    Reply,
    ReplyChange,
    SendChange,
    SendRecord,
)

SEND_SK: Final = "SEND"
# Characters of a reason kept: a rejection's every broken rule (protocol.send bounds it to
# a few kilobytes) fits, and an item stays far from DynamoDB's 400 KB.
REASON_MAX: Final = 4096
BY_CONNECTOR: Final = "connector"  # rejected_by: refused before the platform saw it
BY_PLATFORM: Final = "platform"
REPORT_ATTR: Final[dict[Status, str]] = {s: f"r_{s.value}" for s in Status}
ATTR_REPORT: Final = {v: k for k, v in REPORT_ATTR.items()}


@dataclass(frozen=True, slots=True)
class Claimed:
    """This invocation owns the send and may call the platform."""

    claim: str


@dataclass(frozen=True, slots=True)
class Taken:
    """Another attempt owns or has finished the send: do not call the platform."""

    state: str
    claim: str | None
    claimed_at: float | None
    reason: str | None


@dataclass(frozen=True, slots=True)
class SendMeta:
    kind: str
    sending_method: str
    phones: tuple[str, ...]
    sms_parts: int | None
    source_id: str  # the SQS messageId
    warnings: tuple[str, ...] = ()  # what the connector dropped or adjusted
    opted_out: tuple[str, ...] = ()  # recipients on the opt-out list at claim time


# A recipient's sort key, or one reply's (REPLY_DIGEST hex characters of the text's hash).
REPLY_DIGEST: Final = 32
_PAGE_KEY: Final = re.compile(
    rf"MSG#{MSG_ID_PATTERN.pattern}(?:#R#[0-9a-f]{{{REPLY_DIGEST}}})?", re.ASCII
)


def _cursor(sk: str) -> str:
    """Opaque to callers: the last sort key read, base64url without padding."""
    return urlsafe_b64encode(sk.encode()).decode().rstrip("=")


def _after(cursor: str) -> str:
    if len(cursor) > 200:  # no sort key of ours is that long
        raise BadPage("malformed next")
    try:
        sk = urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (ValueError, UnicodeError):
        raise BadPage("malformed next") from None
    if not _PAGE_KEY.fullmatch(sk):
        raise BadPage("malformed next")
    return sk


def _send_key(ptid: str) -> dict[str, Any]:
    return {"pk": f"TX#{ptid}", "sk": SEND_SK}


class MessageStore(TableStore):
    """MessageStore(table, retention_days): sends, recipients and their reports."""

    # -- sends ---------------------------------------------------------------------------

    def claim(self, ptid: str, claim: str, meta: SendMeta) -> Claimed | Taken:
        """The once-only guard: a conditional write on the send's own record, before the
        call. Wins when the send is new, waiting for a retry (`pending`), dead-lettered and
        redriven (`failed`), or was refused by the connector before reaching the platform
        (a corrected body under the same id). Nothing else that reached the platform is
        claimed again."""
        now = self._clock()
        values: dict[str, Any] = {
            ":sending": State.SENDING,
            ":pending": State.PENDING,
            ":failed": State.FAILED,
            ":connector": BY_CONNECTOR,
            ":claim": claim,
            ":now": now,
            ":iso": now_iso(now),
            ":kind": meta.kind,
            ":method": meta.sending_method,
            ":phones": meta.phones,
            ":source": meta.source_id,
            ":one": 1,
            ":exp": self.expires(now),
        }
        sets = [
            "#state = :sending, claim = :claim, claimed_at = :now, kind = :kind",
            "sending_method = :method, phones = :phones, source_id = :source",
            "created_at = if_not_exists(created_at, :iso), updated_at = :iso, expires_at = :exp",
        ]
        # What an earlier body under this id left behind goes (a corrected body).
        removes = ["reason", "rejected_by", "msg_ids"]
        if meta.sms_parts is not None:
            values[":parts"] = meta.sms_parts
            sets.append("sms_parts = :parts")
        else:
            removes.append("sms_parts")
        if meta.warnings:
            values[":warnings"] = meta.warnings
            sets.append("warnings = :warnings")
        else:
            removes.append("warnings")
        if meta.opted_out:
            values[":opted"] = meta.opted_out
            sets.append("opted_out = :opted")
        else:  # a retried claim may find the list changed since
            removes.append("opted_out")
        try:
            self.update(
                _send_key(ptid),
                f"SET {', '.join(sets)} REMOVE {', '.join(removes)} ADD attempts :one",
                values,
                "attribute_not_exists(pk) OR #state IN (:pending, :failed) "
                "OR rejected_by = :connector",
                old_on_failure=True,
            )
        except ConditionFailed as failed:
            old = failed.old or {}
            claimed_at = old.get("claimed_at")
            return Taken(
                state=str(old.get("state", "unknown")),
                claim=old.get("claim"),
                claimed_at=float(claimed_at) if claimed_at is not None else None,
                reason=old.get("reason"),
            )
        return Claimed(claim)

    def settle(
        self,
        ptid: str,
        claim: str,
        state: State,
        reason: str | None,
        *,
        msg_ids: dict[str, str] | None = None,
        phones: tuple[str, ...] = (),
        rejected_by: str | None = None,
    ) -> bool:
        """Records what the platform answered, in one write on the send's own item: the
        msg_ids ride on it as a phone -> msg_id map, so a submitted send and its recipients
        can never be half-written. Returns False when the claim was no longer ours.
        `rejected_by` (BY_CONNECTOR, BY_PLATFORM) goes with a rejection."""
        now = self._clock()
        values: dict[str, Any] = {":state": state, ":claim": claim, ":iso": now_iso(now)}
        sets = ["#state = :state", "updated_at = :iso"]
        removes = []
        if reason is None:
            removes.append("reason")
        else:
            sets.append("reason = :reason")
            values[":reason"] = reason[:REASON_MAX]
        if rejected_by is not None:
            sets.append("rejected_by = :by")
            values[":by"] = rejected_by
        if msg_ids:
            sets.append("msg_ids = :msg_ids")
            values[":msg_ids"] = {p: m for p, m in msg_ids.items() if p in phones}
        expression = "SET " + ", ".join(sets)
        if removes:
            expression += " REMOVE " + ", ".join(removes)
        try:
            self.update(_send_key(ptid), expression, values, "claim = :claim")
        except ConditionFailed:
            return False
        return True

    def give_up_stale(self, ptid: str, old_claim: str, reason: str) -> bool:
        """A claim older than the function's timeout: its invocation died mid-call, so the
        platform may or may not have the message. It becomes `unknown`, never re-sent."""
        return self.settle(ptid, old_claim, State.UNKNOWN, reason)

    def reject_unsendable(
        self, ptid: str, source_id: str, reason: str, phones: tuple[str, ...] = ()
    ) -> bool:
        """Records why a queue body can never be sent, unless that id already names a send
        (a broken copy must not overwrite a real send's record); a later broken body under
        an id the connector refused replaces the reason (the status shows the last one).
        `phones`: the recipients the body named, as far as they could be read."""
        now = self._clock()
        values = {
            ":rejected": State.REJECTED,
            ":reason": reason[:REASON_MAX],
            ":connector": BY_CONNECTOR,
            ":source": source_id,
            ":phones": phones,
            ":zero": 0,
            ":iso": now_iso(now),
            ":exp": self.expires(now),
        }
        expression = (
            "SET #state = :rejected, reason = :reason, rejected_by = :connector, "
            "source_id = :source, phones = :phones, attempts = if_not_exists(attempts, :zero), "
            "created_at = if_not_exists(created_at, :iso), updated_at = :iso, expires_at = :exp "
            "REMOVE kind, sms_parts, warnings, msg_ids, claim, claimed_at"
        )
        condition = "attribute_not_exists(pk) OR rejected_by = :connector"
        try:
            self.update(_send_key(ptid), expression, values, condition)
        except ConditionFailed:
            return False
        return True

    # -- reports -------------------------------------------------------------------------

    def record_report(self, report: Report, with_write: dict[str, Any] | None = None) -> bool:
        """One conditional write per report, no read. Returns False for a repeat (already
        stored: nothing changes).

        `with_write` (a reply only: an opt-out keyword's change to the list) is written in
        the same transaction as the reply, so the list changes exactly when the reply is
        first stored: a redelivered STOP after a START changes nothing, and a failure leaves
        neither written (the platform retries both)."""
        now = self._clock()
        pk = f"TX#{report.p_transaction_id}"
        try:
            if report.type is ReportType.REPLY:
                self._put_reply(report, pk, now, with_write)
            else:
                self._update_recipient(report, pk, now)
        except ConditionFailed:
            return False
        return True

    def _put_reply(
        self, report: Report, pk: str, now: float, with_write: dict[str, Any] | None
    ) -> None:
        assert report.text is not None
        digest = hashlib.sha256(report.text.encode()).hexdigest()[:REPLY_DIGEST]
        item = {
            "pk": pk,
            "sk": f"MSG#{report.msg_id}#R#{digest}",
            "text": report.text,
            "received_at": now_iso(now),
            "expires_at": self.expires(now),
        }
        condition = "attribute_not_exists(pk)"
        if with_write is None:
            self.put(item, condition)
            return
        put = {"TableName": self.table, "Item": to_item(item), "ConditionExpression": condition}
        writes: list[Any] = [{"Put": put}, with_write]
        with aws_errors():  # the reply's condition failing cancels it all: ConditionFailed
            self.client.transact_write_items(TransactItems=writes)

    def _update_recipient(self, report: Report, pk: str, now: float) -> None:
        assert report.status is not None
        attr = REPORT_ATTR[report.status]
        values: dict[str, Any] = {":iso": now_iso(now), ":exp": self.expires(now)}
        update = (
            "SET #r = if_not_exists(#r, :iso), updated_at = :iso, "
            "expires_at = if_not_exists(expires_at, :exp)"
        )
        condition = "attribute_not_exists(#r)"
        if report.status_extended is not None:
            # A late report may still fill in the detail (section E).
            update += ", status_extended = :ext"
            values[":ext"] = report.status_extended
            condition += " OR attribute_not_exists(status_extended)"
        key = {"pk": pk, "sk": f"MSG#{report.msg_id}"}
        self.update(key, update, values, condition, names={"#r": attr})

    def recipient_phone(self, ptid: str, msg_id: str) -> str | None:
        """The phone a msg_id was sent to (one GetItem of the send's own item): from the
        platform's answer, or the only recipient of a send whose answer was lost. None when
        the send is unknown or the msg_id cannot be told apart among several recipients."""
        found = self.get(
            _send_key(ptid), ProjectionExpression="phones, msg_ids", ConsistentRead=True
        )
        send = found or {}
        for phone, known in (send.get("msg_ids") or {}).items():
            if known == msg_id:
                return str(phone)
        phones = send.get("phones") or []
        return str(phones[0]) if len(phones) == 1 else None

    # -- status --------------------------------------------------------------------------

    def lifecycle(
        self, ptid: str, *, page: str | None = None, limit: int | None = None
    ) -> Lifecycle | None:
        """One send and what was reported about it. Without `limit`, everything, in one
        Query (paged only past 1 MB). With it, a page of GET /messages/{id}: at most `limit`
        report and reply items, from the cursor `page` on (BadPage if it is not one of ours);
        `Lifecycle.next` is the next page's cursor. The first page is still one Query (newest
        sort key first, so the send's own item comes first); a later page adds one GetItem."""
        pk = f"TX#{ptid}"
        after = None if page is None else _after(page)
        send: SendRecord | None = None
        if after is not None:
            send = self._send(ptid)
            if send is None:
                return None
        recipients: dict[str, RecipientRecord] = {}
        read = 0
        last: str | None = None
        more = False
        # The send's item, `limit` items, and one more to know whether there are more.
        page_size = None if limit is None else limit + 2
        for item in self._query(pk, after, page_size):
            sk = str(item["sk"])
            if sk == SEND_SK:
                send = _send_record(ptid, item)
                continue
            if not sk.startswith("MSG#"):
                continue
            if limit is not None and read == limit:
                more = True
                break
            read += 1
            last = sk
            msg_id, reply = _recipient_key(sk)
            record = recipients.setdefault(msg_id, RecipientRecord(msg_id))
            if reply:
                record.replies.append(_reply(item))
            else:
                _fill_recipient(record, item)
        if send is None:
            return None
        ordered = sorted(recipients.values(), key=lambda r: r.msg_id)
        return Lifecycle(send, ordered, _cursor(last) if more and last else None)

    def _send(self, ptid: str) -> SendRecord | None:
        item = self.get(_send_key(ptid))
        return _send_record(ptid, item) if item else None

    def sends(self, ptids: Iterable[str]) -> dict[str, SendRecord]:
        """The send items of these ids, by BatchGetItem; an id with no send is left out.
        Raises StorageError when the table cannot answer (the caller retries later)."""
        keys = [{"pk": f"TX#{ptid}", "sk": SEND_SK} for ptid in sorted(set(ptids))]
        found: dict[str, SendRecord] = {}
        for item in self.batch_get(keys):
            ptid = str(item["pk"]).removeprefix("TX#")
            found[ptid] = _send_record(ptid, item)
        return found

    def _query(self, pk: str, after: str | None, page_size: int | None) -> Iterator[dict[str, Any]]:
        """The partition's items (plain values), newest sort key first, page after page."""
        start = None if after is None else {"pk": pk, "sk": after}
        while True:
            items, start = self.query(pk, after=start, limit=page_size, newest_first=True)
            yield from items
            if start is None:
                return


def item_change(
    keys: Mapping[str, Any],
    old: Mapping[str, Any] | None,
    new: Mapping[str, Any] | None,
    at: float | None = None,
) -> ItemChange | None:
    """What one write did to one item, from a stream record's keys, images (the table's own
    attribute-value form) and time (epoch seconds), read by the same parsers as `lifecycle`
    and the opt-out routes. None for the media cache's items (IMG#, OBJ#)."""
    key = from_item(keys)
    pk, sk = str(key["pk"]), str(key["sk"])
    if pk == OPTOUT_PARTITION:
        return entry_change(sk, old, new, now_iso(at) if at is not None else None)
    if not pk.startswith("TX#"):
        return None
    ptid = pk.removeprefix("TX#")
    before = from_item(old) if old else None
    after = from_item(new) if new else None
    if sk == SEND_SK:
        return SendChange(
            _send_record(ptid, before) if before else None,
            _send_record(ptid, after) if after else None,
        )
    if not sk.startswith("MSG#"):
        return None
    msg_id, digest = _recipient_key(sk)
    if digest:
        return ReplyChange(
            ptid,
            msg_id,
            digest,
            _reply(before) if before else None,
            _reply(after) if after else None,
        )
    return RecipientChange(ptid, _recipient(msg_id, before), _recipient(msg_id, after))


def _recipient_key(sk: str) -> tuple[str, str]:
    """MSG#<msg_id> -> (msg_id, ""); MSG#<msg_id>#R#<hash> -> (msg_id, hash)."""
    msg_id, _, digest = sk.removeprefix("MSG#").partition("#R#")
    return msg_id, digest


# The parsers below read an item's plain values (from_item).


def _reply(item: Mapping[str, Any]) -> Reply:
    return Reply(str(item["text"]), str(item["received_at"]))


def _recipient(msg_id: str, item: Mapping[str, Any] | None) -> RecipientRecord | None:
    if item is None:
        return None
    record = RecipientRecord(msg_id)
    _fill_recipient(record, item)
    return record


def _send_record(ptid: str, item: Mapping[str, Any]) -> SendRecord:
    return SendRecord(
        p_transaction_id=ptid,
        state=str(item["state"]),
        reason=item.get("reason"),
        phones=tuple(item.get("phones", ())),
        msg_ids=dict(item.get("msg_ids", {})),
        kind=item.get("kind"),
        sms_parts=int(item["sms_parts"]) if "sms_parts" in item else None,
        claimed_at=float(item["claimed_at"]) if "claimed_at" in item else None,
        claim=item.get("claim"),
        attempts=int(item.get("attempts", 0)),
        created_at=item.get("created_at"),
        updated_at=item.get("updated_at"),
        warnings=tuple(item.get("warnings", ())),
        opted_out=tuple(item.get("opted_out", ())),
    )


def _fill_recipient(record: RecipientRecord, item: Mapping[str, Any]) -> None:
    record.status_extended = item.get("status_extended")
    record.updated_at = item.get("updated_at")
    for name, value in item.items():
        if name in ATTR_REPORT:
            record.reported[ATTR_REPORT[name]] = str(value)
