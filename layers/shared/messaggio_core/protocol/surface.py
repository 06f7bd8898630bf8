"""Section G: the connector's own surface. [ours] Names here are fixed by docs/protocol.md."""

from __future__ import annotations

from enum import StrEnum
from typing import Final

ENV_SEND_URL: Final = "MESSAGGIO_SEND_URL"
ENV_MEDIA_URL: Final = "MESSAGGIO_MEDIA_URL"
ENV_SECRET_ID: Final = "MESSAGGIO_SECRET_ID"
ENV_RATE_LIMIT: Final = "MESSAGGIO_RATE_LIMIT"
ENV_ALLOWED_CIDRS: Final = "CALLBACK_ALLOWED_CIDRS"
DEFAULT_RATE_LIMIT: Final = 10  # [prev] 10 SMS a second per account
# [ours] GET /messages/{id} carries at most this many report and reply items an answer; the
# rest is paged with `next`. A reply is at most 4,096 characters (up to ~25 KB as JSON), so
# an answer stays near 2.5 MB at worst, under Lambda's 6 MB response limit.
STATUS_PAGE_ITEMS: Final = 100
# [ours] the `source` of every event the events function publishes (section G, Events).
EVENT_SOURCE: Final = "messaggio.connector"


class State(StrEnum):
    """A send's state in GET /messages/{id}."""

    SENDING = "sending"  # claimed, answer not yet in
    SUBMITTED = "submitted"  # code 0
    PENDING = "pending"  # will be retried; reason says why
    FAILED = "failed"  # [ours] its last allowed attempt failed: dead-lettered until redriven
    REJECTED = "rejected"  # never sent or refused for good
    UNKNOWN = "unknown"  # the answer was lost; reports settle each recipient


# Decided in section A (protocol/send.py); here, not there, so that the callbacks function's
# status view loads none of the send body's models (its docstring is the OpenAPI document's).
class Kind(StrEnum):
    """[doc 1.1] the Viber message kinds, decided by which parameters are present, and
    [ours] `sms` (text only). Decided once, when the body is read (`Message.kind`); the
    status and the logs show it as is."""

    TEXT = "text"
    PICTURE = "picture"
    TEXT_BUTTON = "text+button"
    TEXT_PICTURE_BUTTON = "text+picture+button"
    SMS = "sms"
