"""The media cache in the messages table, and image bytes read from S3.

    IMG#<md5 of the content>  IMAGE    state (uploading | ready | refused), image_id, claim
    OBJ#<bucket>/<key>        OBJECT   the content an S3 object last had: md5, etag, version

The cache is keyed by content, so the same picture under two keys, or one event delivered
twice, uploads once; the object item only points at content, so overwriting a key with
other bytes makes a new entry while the old image_id stays valid for old sends.
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any, Final

from messaggio_core.dal.clients import s3
from messaggio_core.dal.common import (
    ConditionFailed,
    TableStore,
    aws_errors,
    now_iso,
)
from messaggio_core.protocol.media import MAX_BYTES, SNIFF_BYTES
from messaggio_core.protocol.signature import file_md5

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

CHUNK: Final = 64 * 1024
SPOOL_IN_MEMORY: Final = 256 * 1024  # past this a download spills to /tmp, not to RAM


@dataclass(frozen=True, slots=True)
class CachedImage:
    state: str  # uploading | ready | refused
    image_id: str | None
    reason: str | None
    claim: str | None
    claimed_at: float | None
    uploaded_at: float | None


@dataclass(frozen=True, slots=True)
class ObjectPointer:
    md5: str | None  # None when the object was refused before it was read (too large)
    etag: str | None
    reason: str | None


@dataclass
class Download:
    """An S3 object's bytes on a spooled temporary file, hashed as they arrived."""

    file: IO[bytes]
    size: int
    head: bytes
    md5: str
    etag: str | None
    version: str | None

    def close(self) -> None:
        self.file.close()


class ObjectTooLarge(Exception):
    def __init__(self, size: int) -> None:
        self.size = size
        super().__init__(f"{size} bytes")


def _image_key(md5: str) -> dict[str, Any]:
    return {"pk": f"IMG#{md5}", "sk": "IMAGE"}


def _object_key(bucket: str, key: str) -> dict[str, Any]:
    return {"pk": f"OBJ#{bucket}/{key}", "sk": "OBJECT"}


class MediaStore(TableStore):
    """MediaStore(table, retention_days): the media cache's items, and the bucket's objects
    through `objects` (the S3 client, made on first use)."""

    def __init__(
        self,
        table: str,
        retention_days: int,
        objects: Callable[[], S3Client] = s3,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(table, retention_days, clock=clock)
        self._objects = objects

    # -- S3 ------------------------------------------------------------------------------

    def current_etag(self, bucket: str, key: str) -> str | None:
        """ObjectMissing (dal.common) when there is no such object, as `download`."""
        with aws_errors():
            head = self._objects().head_object(Bucket=bucket, Key=key)
        return head.get("ETag")

    def download(self, bucket: str, key: str) -> Download:
        """Streams the object to a spooled file while hashing it: memory stays flat."""
        with aws_errors():
            answer = self._objects().get_object(Bucket=bucket, Key=key)
        size = answer["ContentLength"]
        body = answer["Body"]
        if size > MAX_BYTES:
            body.close()
            raise ObjectTooLarge(size)
        spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115
        head = b""

        def tee() -> Iterator[bytes]:
            nonlocal head
            for chunk in body.iter_chunks(CHUNK):
                if len(head) < SNIFF_BYTES:
                    head += chunk[: SNIFF_BYTES - len(head)]
                spool.write(chunk)
                yield chunk

        md5 = file_md5(tee())
        spool.seek(0)
        return Download(spool, size, head, md5, answer.get("ETag"), answer.get("VersionId"))

    # -- the cache -----------------------------------------------------------------------

    def claim_upload(
        self, md5: str, claim: str, stale_before: float, expired_before: float | None
    ) -> CachedImage | None:
        """The once-only guard for an upload. None: this caller owns the upload now.
        Otherwise the entry as it is (ready, refused, or being uploaded by another)."""
        now = self._clock()
        condition = "attribute_not_exists(pk) OR (#state = :uploading AND claimed_at < :stale)"
        values: dict[str, Any] = {
            ":uploading": "uploading",
            ":stale": stale_before,
            ":claim": claim,
            ":now": now,
            ":exp": self.expires(now),
        }
        if expired_before is not None:
            condition += " OR (#state = :ready AND uploaded_at < :expired)"
            values[":ready"] = "ready"
            values[":expired"] = expired_before
        update = "SET #state = :uploading, claim = :claim, claimed_at = :now, expires_at = :exp"
        try:
            self.update(_image_key(md5), update, values, condition, old_on_failure=True)
        except ConditionFailed as failed:
            return _cached(failed.old or {})
        return None

    def finish_upload(
        self, md5: str, claim: str, image_id: str | None, reason: str | None, size: int
    ) -> None:
        """Records the platform's answer: an image_id, or a refusal kept for good."""
        now = self._clock()
        state = "ready" if image_id is not None else "refused"
        values: dict[str, Any] = {
            ":state": state,
            ":claim": claim,
            ":now": now,
            ":iso": now_iso(now),
            ":size": size,
        }
        update = "SET #state = :state, uploaded_at = :now, updated_at = :iso, size_bytes = :size"
        if image_id is not None:
            update += ", image_id = :image_id REMOVE reason"
            values[":image_id"] = image_id
        else:
            update += ", reason = :reason"
            values[":reason"] = (reason or "refused")[:500]
        with contextlib.suppress(ConditionFailed):  # the claim went stale: another's now
            self.update(_image_key(md5), update, values, "claim = :claim")

    def release_upload(self, md5: str, claim: str) -> None:
        """Gives up an upload that failed in transit, so the next try may claim it at once."""
        condition = "claim = :claim AND #state = :uploading"
        values = {":claim": claim, ":uploading": "uploading"}
        with contextlib.suppress(ConditionFailed):  # no longer ours to give up
            self.delete(_image_key(md5), condition, values)

    def image(self, md5: str) -> CachedImage | None:
        item = self.get(_image_key(md5), ConsistentRead=True)
        return _cached(item) if item else None

    def point(
        self,
        bucket: str,
        key: str,
        md5: str | None,
        etag: str | None,
        version: str | None = None,
        reason: str | None = None,
    ) -> None:
        """The object now holds this content, or was refused unread (one write)."""
        now = self._clock()
        values = {
            "updated_at": now_iso(now),
            "expires_at": self.expires(now),
            "md5": md5,
            "reason": reason[:500] if reason else None,
            "etag": etag,
            "version_id": version,
        }
        item = {name: value for name, value in values.items() if value}  # absent: not stored
        self.put({**_object_key(bucket, key), **item})

    def pointer(self, bucket: str, key: str) -> ObjectPointer | None:
        item = self.get(_object_key(bucket, key))
        if not item:
            return None
        return ObjectPointer(item.get("md5"), item.get("etag"), item.get("reason"))


def _cached(item: dict[str, Any]) -> CachedImage:
    """An image's cache entry from its plain values."""

    def number(name: str) -> float | None:
        return float(item[name]) if name in item else None

    return CachedImage(
        state=str(item.get("state", "uploading")),
        image_id=item.get("image_id"),
        reason=item.get("reason"),
        claim=item.get("claim"),
        claimed_at=number("claimed_at"),
        uploaded_at=number("uploaded_at"),
    )
