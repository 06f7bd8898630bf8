"""Which events a batch of table changes publishes, free of AWS: each changed item is
compared before and after (the stream's old and new images), and only a change a consumer
can see becomes an event. The handler reads the stream; the ports below reach the table and
the bus.

[ours] every rule here (docs/protocol.md section G, "Events"):
- `Message Status Changed` when a recipient's shown status (section E's highest rank, ties by
  a fixed order) moves; a replay, a lower rank arriving late or a detail filled in later
  moves nothing. Its `reported_at` is the time the report arrived (reports carry none).
- `Send State Changed` when a send's settled state changes. `sending` is a claim in flight,
  never published: the state before a claim was nothing (first attempt) or `pending` (a
  claim only wins a new send or a pending one), so `attempts` tells which.
- `Reply Received` once per stored reply; `p_transaction_id` is null when no send of that id
  exists (the reply could not be joined).
- `Recipient Opted Out` when a phone is put on the opt-out list (its entry appears: a STOP
  reply or PUT /opt-outs/{phone}); a repeated STOP, which keeps the first entry, publishes
  nothing. `Recipient Opted In` when it is taken off (its entry is removed: a START reply or
  DELETE /opt-outs/{phone}), with how, as the remover marked the entry before removing it;
  an entry removed otherwise (by hand) has no mark: the stream's time, and a null source.
- `event_id` is a UUID derived from what changed, so a re-published change repeats it.

A new kind of item publishes by a builder in BUILDERS (its change type to its drafts), a
detail type below and a schema in schemas/.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any, Final, Protocol

from messaggio_core.protocol.reports import STATUS_EXTENDED_REASON, highest
from messaggio_core.protocol.surface import EVENT_SOURCE, State
from messaggio_core.records import (
    ItemChange,
    OptIn,
    OptOutChange,
    RecipientChange,
    ReplyChange,
    SendChange,
    SendRecord,
)

SOURCE: Final = EVENT_SOURCE
# Fixed for ever: changing it changes every event_id.
EVENT_NAMESPACE: Final = uuid.uuid5(uuid.NAMESPACE_URL, "urn:messaggio-connector:events")


class DetailType(StrEnum):
    STATUS = "Message Status Changed"
    STATE = "Send State Changed"
    REPLY = "Reply Received"
    OPTED_OUT = "Recipient Opted Out"
    OPTED_IN = "Recipient Opted In"


# The settled states; `sending` is a claim in flight.
PUBLISHED_STATES: Final = frozenset(
    {State.SUBMITTED, State.PENDING, State.REJECTED, State.UNKNOWN, State.FAILED}
)


def event_id(kind: str, *parts: str) -> str:
    """The same change always gets the same id (UUID version 5)."""
    return str(uuid.uuid5(EVENT_NAMESPACE, "\x1f".join((kind, *parts))))


@dataclass(frozen=True, slots=True)
class Join:
    """A draft's phone comes from the send's record (phone -> msg_id); a reply with no send
    publishes a null p_transaction_id."""

    p_transaction_id: str
    msg_id: str
    null_if_unjoined: bool = False


@dataclass(frozen=True, slots=True)
class Draft:
    detail_type: DetailType
    detail: dict[str, Any]
    join: Join | None = None


@dataclass(frozen=True, slots=True)
class Event:
    """What goes on the bus: `source` is always SOURCE."""

    detail_type: str
    detail: dict[str, Any]

    @property
    def event_id(self) -> str:
        return str(self.detail["event_id"])


# -- builders: one per kind of item -------------------------------------------------------


def status_changed(change: RecipientChange) -> list[Draft]:
    ptid = change.p_transaction_id
    if change.new is None or not change.new.reported:
        return []
    after = change.new.status
    before = change.old.status if change.old is not None and change.old.reported else None
    if before is not None and (after == before or highest((before, after)) != after):
        return []
    msg_id = change.new.msg_id
    detail = {
        "p_transaction_id": ptid,
        "phone": None,
        "msg_id": msg_id,
        "status": after.value,
        "previous_status": before.value if before is not None else None,
        "status_extended": _extended(change.new.status_extended),
        "reported_at": change.new.reported[after],
        "event_id": event_id("status", ptid, msg_id, after.value),
    }
    return [Draft(DetailType.STATUS, detail, Join(ptid, msg_id))]


def state_changed(change: SendChange) -> list[Draft]:
    new = change.new
    if new is None or new.state not in PUBLISHED_STATES:
        return []
    before = settled_state(change.old)
    if before == new.state:
        return []
    ptid = new.p_transaction_id
    detail = {
        "p_transaction_id": ptid,
        "state": new.state,
        "previous_state": before,
        "reason": new.reason,
        "recipients": len(new.phones),
        "event_id": event_id("state", ptid, str(new.attempts), new.state),
    }
    return [Draft(DetailType.STATE, detail)]


def reply_received(change: ReplyChange) -> list[Draft]:
    if change.new is None or change.old is not None:
        return []
    ptid, msg_id = change.p_transaction_id, change.msg_id
    detail = {
        "p_transaction_id": ptid,
        "msg_id": msg_id,
        "phone": None,
        "text": change.new.text,
        "received_at": change.new.received_at,
        "event_id": event_id("reply", ptid, msg_id, change.digest),
    }
    return [Draft(DetailType.REPLY, detail, Join(ptid, msg_id, null_if_unjoined=True))]


def opt_out_changed(change: OptOutChange) -> list[Draft]:
    """An entry that appears puts the phone on the list, one that goes takes it off; one
    that stays (a second STOP) changes nothing. The phone is the entry's own."""
    old, new = change.old, change.new
    if new is not None and old is None:
        detail = {
            **new.view(),
            "event_id": event_id("opted_out", new.phone, new.opted_out_at),
        }
        return [Draft(DetailType.OPTED_OUT, detail)]
    if old is not None and new is None:
        how = asdict(change.opt_in or OptIn(opted_in_at=change.at or "", source=""))
        detail = {
            "phone": old.phone,
            **{name: value or None for name, value in how.items()},
            "opted_out_at": old.opted_out_at,
            "event_id": event_id("opted_in", old.phone, old.opted_out_at),
        }
        return [Draft(DetailType.OPTED_IN, detail)]
    return []


BUILDERS: Final[Mapping[type[Any], Callable[[Any], list[Draft]]]] = {
    RecipientChange: status_changed,
    SendChange: state_changed,
    ReplyChange: reply_received,
    OptOutChange: opt_out_changed,
}


def drafts(change: ItemChange | None) -> list[Draft]:
    """The events one change publishes (none for items no builder knows: the media cache)."""
    if change is None:
        return []
    build = BUILDERS.get(type(change))
    return build(change) if build is not None else []


def settled_state(send: SendRecord | None) -> str | None:
    if send is None:
        return None
    if send.state == State.SENDING:
        return State.PENDING.value if send.attempts > 1 else None
    return send.state


def _extended(code: str | None) -> dict[str, str | None] | None:
    if code is None:
        return None
    return {"code": code, "reason": STATUS_EXTENDED_REASON.get(code)}


def joined(draft: Draft, sends: Mapping[str, SendRecord]) -> Event:
    detail = dict(draft.detail)
    if draft.join is not None:
        send = sends.get(draft.join.p_transaction_id)
        if send is None:
            if draft.join.null_if_unjoined:
                detail["p_transaction_id"] = None
        else:
            detail["phone"] = next(
                (p for p, m in send.msg_ids.items() if m == draft.join.msg_id), None
            )
    return Event(draft.detail_type.value, detail)


# -- one batch ------------------------------------------------------------------------------


class Sends(Protocol):
    """messaggio_core.dal.messages.MessageStore.sends"""

    def sends(self, ptids: Iterable[str]) -> Mapping[str, SendRecord]: ...


class Bus(Protocol):
    """messaggio_core.dal.events.EventBus: event_id -> error code for what did not go."""

    def put(self, events: Sequence[Event]) -> Mapping[str, str]: ...


@dataclass(frozen=True, slots=True)
class Change:
    """One stream record: `record_id` is its sequence number."""

    record_id: str
    item: ItemChange | None


@dataclass(frozen=True, slots=True)
class RecordFailure:
    """Why a record's events did not all reach the bus, for the log: ids only (never the
    phone an opt-out entry is keyed by)."""

    change: Change
    reason: str
    detail_types: tuple[str, ...]

    @property
    def p_transaction_id(self) -> str | None:
        item = self.change.item
        if isinstance(item, SendChange):
            record = item.new or item.old
            return record.p_transaction_id if record is not None else None
        return getattr(item, "p_transaction_id", None)


@dataclass
class Outcome:
    published: list[Event] = field(default_factory=list)
    failed_events: int = 0
    failures: dict[str, RecordFailure] = field(default_factory=dict)  # by record_id


def publish(changes: Sequence[Change], sends: Sends, bus: Bus) -> Outcome:
    """Every event of the batch, in stream order. A record fails (and the stream retries it)
    when its send could not be read or any of its events did not reach the bus."""
    outcome = Outcome()
    planned = [(change, drafts(change.item)) for change in changes]
    wanted = {d.join.p_transaction_id for _, ds in planned for d in ds if d.join is not None}
    try:
        found = sends.sends(wanted) if wanted else {}
        lookup_failed: str | None = None
    except Exception as exc:
        found, lookup_failed = {}, f"send lookup failed: {type(exc).__name__}"
    ready: list[tuple[Change, list[Event]]] = []
    for change, ds in planned:
        if lookup_failed and any(d.join is not None for d in ds):
            outcome.failed_events += len(ds)
            _fail(outcome, change, ds, lookup_failed)
            continue
        ready.append((change, [joined(d, found) for d in ds]))
    errors = bus.put([event for _, events in ready for event in events])
    for change, events in ready:
        lost = [e for e in events if e.event_id in errors]
        outcome.published.extend(e for e in events if e.event_id not in errors)
        if lost:
            outcome.failed_events += len(lost)
            codes = sorted({errors[e.event_id] for e in lost})
            _fail(outcome, change, events, "PutEvents: " + ", ".join(codes))
    return outcome


def _fail(outcome: Outcome, change: Change, events: Sequence[Draft | Event], reason: str) -> None:
    detail_types = tuple(str(e.detail_type) for e in events)
    outcome.failures[change.record_id] = RecordFailure(change, reason, detail_types)
