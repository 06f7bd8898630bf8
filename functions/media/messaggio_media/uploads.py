"""S3 object-created notifications (delivered through SQS) to the image cache.

Why through SQS rather than S3 invoking the function directly: a failed upload (network,
platform 5xx) is retried with the queue's visibility timeout and ends in a dead-letter queue
that can be redriven, the same way send requests are handled, and per-record failures are
reported instead of retrying a whole notification.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import unquote_plus

from messaggio_core.images import ImageCache
from messaggio_core.protocol.send import S3Ref


class Upload(StrEnum):
    UPLOADED = "uploaded"  # this call uploaded it
    CACHED = "cached"  # the content was already uploaded (a duplicate or the same bytes)
    REFUSED = "refused"  # by the local checks or the platform: recorded, never retried
    RETRY = "retry"  # network, 5xx, or another upload of it still running: tried again
    IGNORED = "ignored"  # not an object-created notification (e.g. s3:TestEvent)


@dataclass(frozen=True, slots=True)
class ObjectResult:
    ref: S3Ref | None
    result: Upload
    reason: str | None = None


class BadNotification(ValueError):
    """An SQS body that is not an S3 notification: nothing to retry."""


def objects(body: str) -> list[S3Ref]:
    """The objects an S3 notification names (keys arrive URL-encoded, '+' for spaces)."""
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise BadNotification("not JSON") from exc
    if not isinstance(data, dict):
        raise BadNotification("not a JSON object")
    if data.get("Event") == "s3:TestEvent":
        return []
    refs: list[S3Ref] = []
    records: Any = data.get("Records")
    if not isinstance(records, list):
        raise BadNotification("no Records")
    for record in records:
        try:
            if not str(record["eventName"]).startswith("ObjectCreated:"):
                continue
            bucket = record["s3"]["bucket"]["name"]
            key = unquote_plus(record["s3"]["object"]["key"])
        except (KeyError, TypeError) as exc:
            raise BadNotification("a record without bucket or key") from exc
        refs.append(S3Ref(str(bucket), key))
    return refs


def upload(cache: ImageCache, ref: S3Ref) -> ObjectResult:
    resolution = cache.resolve(ref)
    if resolution.unavailable is not None:
        return ObjectResult(ref, Upload.RETRY, resolution.unavailable)
    if resolution.refused is not None:
        return ObjectResult(ref, Upload.REFUSED, resolution.refused)
    return ObjectResult(ref, Upload.UPLOADED if resolution.uploaded else Upload.CACHED)
