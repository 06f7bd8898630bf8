"""The opt-out (suppression) list, in the messages table under its own partition:

    OPTOUT  PHONE#<digits>   one phone on the list: opted_out_at, source (keyword | api),
                             keyword, p_transaction_id and msg_id of the reply, caller;
                             opt_in (a map: how it is being taken off, written by START or
                             DELETE just before they remove the entry, for the stream)

No new table and no index: the sender's check is one BatchGetItem of the batch's phones, an
entry is one GetItem/PutItem/DeleteItem, and the export is a Query of the one partition, in
phone order. Entries never expire (no `expires_at`): a STOP holds until a START or a DELETE.
The table's DynamoDB stream sees every change: the events function publishes Recipient Opted
Out and Opted In from it (`entry_change`).

One partition is enough: the sender reads at most one batch's phones a call (consistently, so
an acknowledged STOP is honoured by the very next claim), far below a partition's 3,000 reads
a second at any rate limit the platform grants; writes are one per STOP, START or PUT.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict
from typing import Any, Final

from messaggio_core.dal.common import (
    ConditionFailed,
    TableStore,
    from_item,
    now_iso,
    to_item,
    to_values,
)
from messaggio_core.protocol.optout import Intent, KeywordMatch
from messaggio_core.records import OptIn, OptOutChange, OptOutEntry

PARTITION: Final = "OPTOUT"
PREFIX: Final = "PHONE#"
_FIELDS: Final = ("opted_out_at", "source", "keyword", "p_transaction_id", "msg_id", "caller")


def key(phone: str) -> dict[str, Any]:
    """The entry's key, plain (to_item makes it DynamoDB's)."""
    return {"pk": PARTITION, "sk": PREFIX + phone}


class OptOutStore(TableStore):
    """OptOutStore(table): the list's entries, kept for ever (no retention)."""

    # -- the sender's check --------------------------------------------------------------

    def suppressed(self, phones: Iterable[str]) -> frozenset[str]:
        """Which of `phones` are on the list: one BatchGetItem for up to 100 phones (a batch
        of sends), keys only, strongly consistent."""
        keys = [key(p) for p in sorted(set(phones))]
        found = self.batch_get(keys, ProjectionExpression="sk", ConsistentRead=True)
        return frozenset(str(item["sk"]).removeprefix(PREFIX) for item in found)

    # -- a keyword reply (one item of the reply's own transaction) ------------------------

    def keyword_write(
        self, match: KeywordMatch, phone: str, p_transaction_id: str, msg_id: str
    ) -> dict[str, Any]:
        """The TransactWriteItems item that applies a keyword reply: STOP adds the entry
        (a phone already on the list keeps its first entry), START deletes it. START first
        marks the entry with how it comes off (one UpdateItem, when the phone is on the
        list); a START that turns out to be a repeat leaves the mark, which the next removal
        writes again."""
        if match.intent is Intent.OPT_IN:
            now = now_iso(self._clock())
            self._mark(phone, OptIn(now, "keyword", match.keyword, p_transaction_id, msg_id))
            return {"Delete": {"TableName": self.table, "Key": to_item(key(phone))}}
        entry = OptOutEntry(
            phone=phone,
            opted_out_at=now_iso(self._clock()),
            source="keyword",
            keyword=match.keyword,
            p_transaction_id=p_transaction_id,
            msg_id=msg_id,
        )
        values = _attributes(entry)
        return {
            "Update": {
                "TableName": self.table,
                "Key": to_item(key(phone)),
                "UpdateExpression": "SET "
                + ", ".join(f"#{n} = if_not_exists(#{n}, :{n})" for n in values),
                "ExpressionAttributeNames": {f"#{n}": n for n in values},
                "ExpressionAttributeValues": to_values({f":{n}": v for n, v in values.items()}),
            }
        }

    # -- the API's routes ----------------------------------------------------------------

    def entry(self, phone: str) -> OptOutEntry | None:
        item = self.get(key(phone), ConsistentRead=True)
        return _entry(item) if item else None

    def add(self, phone: str, caller: str | None) -> tuple[OptOutEntry, bool]:
        """PUT: the entry and True when it is new; the existing entry, untouched, and False
        when the phone was already on the list (one request either way)."""
        entry = OptOutEntry(
            phone=phone, opted_out_at=now_iso(self._clock()), source="api", caller=caller
        )
        try:
            item = {**key(phone), **_attributes(entry)}
            self.put(item, "attribute_not_exists(pk)", old_on_failure=True)
        except ConditionFailed as failed:
            if failed.old is None:  # DynamoDB always returns it; an emulator may not
                found = self.entry(phone)
                assert found is not None
                return found, False
            return _entry(failed.old), False
        return entry, True

    def remove(self, phone: str) -> bool:
        """DELETE: False when the phone was not on the list. The entry is marked with how it
        comes off (`api`), then deleted: two requests."""
        if not self._mark(phone, OptIn(now_iso(self._clock()), "api")):
            return False
        return self.delete(key(phone)) is not None

    def _mark(self, phone: str, opt_in: OptIn) -> bool:
        """Writes `opt_in` on the phone's entry, so the stream's record of its removal says
        how and when it came off; False when the phone is not on the list."""
        mark = {name: value for name, value in asdict(opt_in).items() if value is not None}
        try:
            self.update(key(phone), "SET opt_in = :mark", {":mark": mark}, "attribute_exists(pk)")
        except ConditionFailed:
            return False
        return True

    def page(self, limit: int, after: str | None) -> tuple[list[OptOutEntry], str | None]:
        """Up to `limit` entries in phone order, after the phone `after`; the last phone of
        the page when more may remain (DynamoDB's own LastEvaluatedKey), else None."""
        start = None if after is None else key(after)
        items, last = self.query(PARTITION, prefix=PREFIX, after=start, limit=limit)
        entries = [_entry(item) for item in items]
        return entries, str(last["sk"]).removeprefix(PREFIX) if last else None


def entry_change(
    sk: str, old: Mapping[str, Any] | None, new: Mapping[str, Any] | None, at: str | None
) -> OptOutChange:
    """What one write did to one phone's entry, from a stream record's images (a STOP or a
    PUT adds it, a START or a DELETE marks it and removes it; a repeated STOP leaves it as
    it was)."""
    before = from_item(old) if old else None
    after = from_item(new) if new else None
    mark = before.get("opt_in") if before is not None and after is None else None
    return OptOutChange(
        sk.removeprefix(PREFIX),
        _entry(before) if before is not None else None,
        _entry(after) if after is not None else None,
        at,
        _opt_in(mark),
    )


def _opt_in(mark: Any) -> OptIn | None:
    """The removal's mark (see `_mark`); None when there is none."""
    if not isinstance(mark, dict) or "opted_in_at" not in mark or "source" not in mark:
        return None
    known = ("keyword", "p_transaction_id", "msg_id")
    more = {name: str(mark[name]) for name in known if mark.get(name) is not None}
    return OptIn(str(mark["opted_in_at"]), str(mark["source"]), **more)


def _attributes(entry: OptOutEntry) -> dict[str, Any]:
    """The entry's stored attributes (the phone is in the key, and repeated for readers of
    the table and its stream); absent values are not stored."""
    values = {name: getattr(entry, name) for name in _FIELDS}
    values["phone"] = entry.phone
    return {name: value for name, value in values.items() if value is not None}


def _entry(item: Mapping[str, Any]) -> OptOutEntry:
    phone = str(item["sk"]).removeprefix(PREFIX)
    fields = {name: str(item[name]) for name in _FIELDS if item.get(name) is not None}
    fields.setdefault("opted_out_at", "")
    fields.setdefault("source", "unknown")
    return OptOutEntry(phone=phone, **fields)
