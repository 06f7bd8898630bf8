"""Events onto an EventBridge bus: PutEvents in calls of at most 10 entries, entries it
reports as failed sent again, and whatever still fails handed back by event id."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from messaggio_core.dal.clients import events
from messaggio_core.dal.common import error_code

if TYPE_CHECKING:
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_events.type_defs import PutEventsRequestEntryTypeDef

PUT_EVENTS_MAX: Final = 10  # entries in one PutEvents call (the service's limit)
TRIES: Final = 3  # calls for an entry that PutEvents reports as failed


class Publishable(Protocol):
    @property
    def event_id(self) -> str: ...

    @property
    def detail_type(self) -> str: ...

    @property
    def detail(self) -> Mapping[str, Any]: ...


class EventBus:
    def __init__(
        self,
        bus_name: str,
        source: str,
        client: Callable[[], EventBridgeClient] = events,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.bus_name = bus_name
        self.source = source
        self.calls = 0  # PutEvents calls made (the benchmark reads it)
        self._client = client
        self._sleep = sleep

    def put(self, entries: Sequence[Publishable]) -> dict[str, str]:
        """Puts every entry, in order, 10 to a call; returns event_id -> error code for the
        entries that did not go. An entry PutEvents reports as failed (throttled, internal
        error) is put again, up to TRIES calls, with a short back-off; a call that fails
        whole (after botocore's own retries) fails its entries at once."""
        failed: dict[str, str] = {}
        for start in range(0, len(entries), PUT_EVENTS_MAX):
            chunk = list(entries[start : start + PUT_EVENTS_MAX])
            for attempt in range(TRIES):
                self.calls += 1
                try:
                    answer = self._client().put_events(Entries=[self._wire(e) for e in chunk])
                except (ClientError, BotoCoreError) as exc:
                    code = error_code(exc) if isinstance(exc, ClientError) else type(exc).__name__
                    failed.update(dict.fromkeys((e.event_id for e in chunk), code))
                    break
                refused = [
                    (entry, result.get("ErrorCode") or "NoEventId")
                    for entry, result in zip(chunk, answer["Entries"], strict=True)
                    if result.get("ErrorCode") or not result.get("EventId")
                ]
                if not refused:
                    break
                if attempt == TRIES - 1:
                    failed.update({entry.event_id: code for entry, code in refused})
                    break
                chunk = [entry for entry, _ in refused]
                self._sleep(0.1 * 2**attempt)
        return failed

    def _wire(self, entry: Publishable) -> PutEventsRequestEntryTypeDef:
        return {
            "EventBusName": self.bus_name,
            "Source": self.source,
            "DetailType": entry.detail_type,
            "Detail": json.dumps(entry.detail, ensure_ascii=False, separators=(",", ":")),
        }
