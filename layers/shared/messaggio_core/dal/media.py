"""The media cache in the messages table, and image bytes read from S3.

    IMG#<md5 of the content>  IMAGE    state (uploading | ready | refused), image_id, claim
    OBJ#<bucket>/<key>        OBJECT   the content an S3 object last had: md5, etag, version

The cache is keyed by content, so the same picture under two keys, or one event delivered
twice, uploads once; the object item only points at content, so overwriting a key with
other bytes makes a new entry while the old image_id stays valid for old sends.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any, Final

from botocore.exceptions import ClientError

from messaggio_core.dal.clients import dynamodb, s3
from messaggio_core.dal.common import StorageError, now_iso
from messaggio_core.dal.common import code as _code
from messaggio_core.dal.common import n as _n
from messaggio_core.dal.common import s as _s
from messaggio_core.protocol.media import MAX_BYTES, SNIFF_BYTES
from messaggio_core.protocol.signature import file_md5

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
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


class ObjectMissing(Exception):
    """The S3 object does not exist (deleted, or a wrong reference)."""


class ObjectTooLarge(Exception):
    def __init__(self, size: int) -> None:
        self.size = size
        super().__init__(f"{size} bytes")


class MediaStore:
    def __init__(
        self,
        table: str,
        retention_days: int,
        client: Callable[[], DynamoDBClient] = dynamodb,
        objects: Callable[[], S3Client] = s3,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.table = table
        self.retention = retention_days * 86_400
        self._client = client
        self._objects = objects
        self._clock = clock

    # -- S3 ------------------------------------------------------------------------------

    def current_etag(self, bucket: str, key: str) -> str | None:
        try:
            head = self._objects().head_object(Bucket=bucket, Key=key)
        except ClientError as exc:
            raise _s3_error(exc, bucket, key) from exc
        return head.get("ETag")

    def download(self, bucket: str, key: str) -> Download:
        """Streams the object to a spooled file while hashing it: memory stays flat."""
        try:
            answer = self._objects().get_object(Bucket=bucket, Key=key)
        except ClientError as exc:
            raise _s3_error(exc, bucket, key) from exc
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
            ":uploading": _s("uploading"),
            ":stale": _n(stale_before),
            ":claim": _s(claim),
            ":now": _n(now),
            ":exp": _n(int(now + self.retention)),
        }
        if expired_before is not None:
            condition += " OR (#state = :ready AND uploaded_at < :expired)"
            values[":ready"] = _s("ready")
            values[":expired"] = _n(expired_before)
        try:
            self._client().update_item(
                TableName=self.table,
                Key={"pk": _s(f"IMG#{md5}"), "sk": _s("IMAGE")},
                UpdateExpression=(
                    "SET #state = :uploading, claim = :claim, claimed_at = :now, expires_at = :exp"
                ),
                ConditionExpression=condition,
                ExpressionAttributeNames={"#state": "state"},
                ExpressionAttributeValues=values,
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if _code(exc) != "ConditionalCheckFailedException":
                raise StorageError(_code(exc)) from exc
            return _cached(dict[str, Any](exc.response).get("Item", {}))
        return None

    def finish_upload(
        self, md5: str, claim: str, image_id: str | None, reason: str | None, size: int
    ) -> None:
        """Records the platform's answer: an image_id, or a refusal kept for good."""
        now = self._clock()
        state = "ready" if image_id is not None else "refused"
        values: dict[str, Any] = {
            ":state": _s(state),
            ":claim": _s(claim),
            ":now": _n(now),
            ":iso": _s(now_iso(now)),
            ":size": _n(size),
        }
        update = "SET #state = :state, uploaded_at = :now, updated_at = :iso, size_bytes = :size"
        if image_id is not None:
            update += ", image_id = :image_id REMOVE reason"
            values[":image_id"] = _s(image_id)
        else:
            update += ", reason = :reason"
            values[":reason"] = _s((reason or "refused")[:500])
        try:
            self._client().update_item(
                TableName=self.table,
                Key={"pk": _s(f"IMG#{md5}"), "sk": _s("IMAGE")},
                UpdateExpression=update,
                ConditionExpression="claim = :claim",
                ExpressionAttributeNames={"#state": "state"},
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if _code(exc) != "ConditionalCheckFailedException":
                raise StorageError(_code(exc)) from exc

    def release_upload(self, md5: str, claim: str) -> None:
        """Gives up an upload that failed in transit, so the next try may claim it at once."""
        try:
            self._client().delete_item(
                TableName=self.table,
                Key={"pk": _s(f"IMG#{md5}"), "sk": _s("IMAGE")},
                ConditionExpression="claim = :claim AND #state = :uploading",
                ExpressionAttributeNames={"#state": "state"},
                ExpressionAttributeValues={":claim": _s(claim), ":uploading": _s("uploading")},
            )
        except ClientError as exc:
            if _code(exc) != "ConditionalCheckFailedException":
                raise StorageError(_code(exc)) from exc

    def image(self, md5: str) -> CachedImage | None:
        try:
            item = (
                self._client()
                .get_item(
                    TableName=self.table,
                    Key={"pk": _s(f"IMG#{md5}"), "sk": _s("IMAGE")},
                    ConsistentRead=True,
                )
                .get("Item")
            )
        except ClientError as exc:
            raise StorageError(_code(exc)) from exc
        return _cached(dict(item)) if item else None

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
        item: dict[str, Any] = {
            "pk": _s(f"OBJ#{bucket}/{key}"),
            "sk": _s("OBJECT"),
            "updated_at": _s(now_iso(now)),
            "expires_at": _n(int(now + self.retention)),
        }
        if md5:
            item["md5"] = _s(md5)
        if reason:
            item["reason"] = _s(reason[:500])
        if etag:
            item["etag"] = _s(etag)
        if version:
            item["version_id"] = _s(version)
        try:
            self._client().put_item(TableName=self.table, Item=item)
        except ClientError as exc:
            raise StorageError(_code(exc)) from exc

    def pointer(self, bucket: str, key: str) -> ObjectPointer | None:
        try:
            item = (
                self._client()
                .get_item(
                    TableName=self.table, Key={"pk": _s(f"OBJ#{bucket}/{key}"), "sk": _s("OBJECT")}
                )
                .get("Item")
            )
        except ClientError as exc:
            raise StorageError(_code(exc)) from exc
        if not item:
            return None
        return ObjectPointer(
            item.get("md5", {}).get("S"),
            item.get("etag", {}).get("S"),
            item.get("reason", {}).get("S"),
        )


def _s3_error(exc: ClientError, bucket: str, key: str) -> Exception:
    """S3's "no such key" is a missing object (refused for good). Its 403 is not: without
    s3:ListBucket S3 says 403 for a missing key too, but a 403 may as well hide an object
    that exists, so it stays a storage error (logged, retried) that names what was refused."""
    if _code(exc) in ("404", "NoSuchKey", "NotFound"):
        return ObjectMissing(f"s3://{bucket}/{key}")
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", "?")
    return StorageError(f"S3 {exc.operation_name} answered {status} {_code(exc)}")


def _cached(item: dict[str, Any]) -> CachedImage:
    def number(name: str) -> float | None:
        return float(item[name]["N"]) if name in item else None

    return CachedImage(
        state=item.get("state", {}).get("S", "uploading"),
        image_id=item.get("image_id", {}).get("S"),
        reason=item.get("reason", {}).get("S"),
        claim=item.get("claim", {}).get("S"),
        claimed_at=number("claimed_at"),
        uploaded_at=number("uploaded_at"),
    )
