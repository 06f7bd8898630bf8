"""S3 object-created notifications (delivered through SQS) to the image cache.

Why through SQS rather than S3 invoking the function directly: a failed upload (network,
platform 5xx) is retried with the queue's visibility timeout and ends in a dead-letter queue
that can be redriven, the same way send requests are handled, and per-record failures are
reported instead of retrying a whole notification.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import unquote_plus

from aws_lambda_powertools.utilities.data_classes import S3Event
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from messaggio_core.images import ImageCache
from messaggio_core.protocol.ids import S3Ref
from messaggio_core.protocol.media import UploadOutcome

# [ours] S3 puts one record in a notification; a body with more is not one of S3's, and
# would cost one S3 call per record.
MAX_RECORDS: Final = 10


@dataclass(frozen=True, slots=True)
class ObjectResult:
    outcome: UploadOutcome
    reason: str | None = None


class BadNotification(ValueError):
    """An SQS body that is not an S3 notification: nothing to retry."""


def objects(record: SQSRecord) -> list[S3Ref]:
    """The objects the S3 notification in an SQS record's body names."""
    try:
        notification = record.decoded_nested_s3_event
    except (ValueError, RecursionError):
        raise BadNotification("not JSON") from None
    if not isinstance(notification.raw_event, dict):
        raise BadNotification("not a JSON object")
    if notification.get("Event") == "s3:TestEvent":
        return []
    return created(notification)


def created(notification: S3Event) -> list[S3Ref]:
    """The objects a notification says were created (keys arrive URL-encoded, '+' for
    spaces): the SQS body's, or the event S3 itself invokes a function with."""
    records: Any = notification.get("Records")
    if not isinstance(records, list):
        raise BadNotification("no Records")
    if len(records) > MAX_RECORDS:
        raise BadNotification(f"more than {MAX_RECORDS} records")
    refs: list[S3Ref] = []
    for record in notification.records:
        try:
            if not str(record.event_name).startswith("ObjectCreated:"):
                continue
            bucket = record.s3.bucket.name
            key = record.s3.get_object.key
        except (KeyError, TypeError, IndexError, AttributeError):
            raise BadNotification("a record without bucket or key") from None
        if not isinstance(bucket, str) or not isinstance(key, str):
            raise BadNotification("a bucket or key that is not a string")
        ref = S3Ref(bucket, unquote_plus(key))
        if not ref.valid:
            raise BadNotification("a bucket or key S3 cannot have")
        refs.append(ref)
    return refs


def upload(cache: ImageCache, ref: S3Ref) -> ObjectResult:
    resolution = cache.resolve(ref)
    if resolution.unavailable is not None:
        return ObjectResult(UploadOutcome.RETRIED, resolution.unavailable)
    if resolution.refused is not None:
        return ObjectResult(UploadOutcome.REFUSED, resolution.refused)
    uploaded = resolution.uploaded
    return ObjectResult(UploadOutcome.UPLOADED if uploaded else UploadOutcome.CACHED)
