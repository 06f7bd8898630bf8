"""Images named by S3 reference, uploaded to the platform once (section F).

One code path for the media function (an object was created) and the sender (a send names
`image: s3://...`): look the object's content up in the cache, and on a miss upload it under
the cache's once-only claim. Whoever comes second waits for the first upload's answer.
"""

from __future__ import annotations

import posixpath
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from messaggio_core.client import PlatformClient
from messaggio_core.dal.common import ObjectMissing
from messaggio_core.dal.media import CachedImage, Download, MediaStore, ObjectTooLarge
from messaggio_core.dal.secrets import Credentials
from messaggio_core.protocol.ids import S3Ref
from messaggio_core.protocol.media import UploadOutcome, local_problem, sniff
from messaggio_core.protocol.signature import media_signature


@dataclass(frozen=True, slots=True)
class ImageResolution:
    image_id: str | None = None
    refused: str | None = None  # permanent: this content can never be sent
    unavailable: str | None = None  # transient: try again later
    uploaded: bool = False  # this call did the upload (for metrics)


class ImageCache:
    def __init__(
        self,
        store: MediaStore,
        client: PlatformClient,
        credentials: Callable[[], Credentials],
        *,
        claim_stale_after: float = 120.0,
        max_age_days: float | None = None,
        wait: float = 10.0,
        poll: float = 0.2,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.store = store
        self.client = client
        self.credentials = credentials
        self.claim_stale_after = claim_stale_after
        self.max_age = max_age_days * 86_400 if max_age_days else None
        self.wait = wait
        self.poll = poll
        self._clock = clock
        self._sleep = sleep

    def resolve(self, ref: S3Ref) -> ImageResolution:
        """The image_id for an S3 object's current content, uploading it if needed.

        The object's pointer is read first: an object never seen (no pointer) is downloaded
        straight away, without asking S3 for its ETag before (one S3 call, not two)."""
        pointer = self.store.pointer(ref.bucket, ref.key)
        if pointer is None:
            return self._upload_object(ref)
        try:
            etag = self.store.current_etag(ref.bucket, ref.key)
        except ObjectMissing:
            return ImageResolution(refused=f"no such object {ref}")
        if etag is not None and pointer.etag == etag:
            if pointer.reason is not None:
                return ImageResolution(refused=pointer.reason)
            if pointer.md5 is not None:
                cached = self.store.image(pointer.md5)
                if cached is not None and cached.state == "refused":
                    return ImageResolution(refused=cached.reason or "refused by the platform")
                if cached is not None and cached.state == "ready" and self._fresh(cached):
                    return ImageResolution(image_id=cached.image_id)
        return self._upload_object(ref)

    def _fresh(self, cached: CachedImage) -> bool:
        if self.max_age is None or cached.uploaded_at is None:
            return True
        return cached.uploaded_at >= self._clock() - self.max_age

    def _upload_object(self, ref: S3Ref) -> ImageResolution:
        try:
            download = self.store.download(ref.bucket, ref.key)
        except ObjectMissing:
            return ImageResolution(refused=f"no such object {ref}")
        except ObjectTooLarge as exc:
            reason = f"file over the maximum size ({exc.size} bytes)"
            self.store.point(ref.bucket, ref.key, None, None, reason=reason)
            return ImageResolution(refused=reason)
        try:
            resolution = self._upload_content(ref, download)
            if resolution.unavailable is None:
                self.store.point(ref.bucket, ref.key, download.md5, download.etag, download.version)
            return resolution
        finally:
            download.close()

    def _upload_content(self, ref: S3Ref, download: Download) -> ImageResolution:
        problem = local_problem(download.size, download.head)
        claim = secrets.token_hex(8)
        deadline = time.monotonic() + self.wait
        while True:
            now = self._clock()
            expired = now - self.max_age if self.max_age is not None else None
            taken = self.store.claim_upload(
                download.md5, claim, now - self.claim_stale_after, expired
            )
            if taken is None:
                break
            if taken.state == "ready" and taken.image_id and self._fresh(taken):
                return ImageResolution(image_id=taken.image_id)
            if taken.state == "refused":
                return ImageResolution(refused=taken.reason or "refused by the platform")
            if time.monotonic() >= deadline:
                return ImageResolution(unavailable="the same image is being uploaded elsewhere")
            self._sleep(self.poll)
        if problem is not None:
            # Known before uploading: recorded like the platform's own refusal, for good.
            self.store.finish_upload(download.md5, claim, None, problem, download.size)
            return ImageResolution(refused=problem)
        creds = self.credentials()
        answer = self.client.upload(
            login=creds.login,
            sign=media_signature(creds.login, download.md5, creds.secret_key.get_secret_value()),
            filename=_filename(ref.key),
            content_type=sniff(download.head) or "application/octet-stream",
            file=download.file,
            size=download.size,
        )
        if answer.outcome is UploadOutcome.UPLOADED:
            self.store.finish_upload(download.md5, claim, answer.image_id, None, download.size)
            return ImageResolution(image_id=answer.image_id, uploaded=True)
        if answer.outcome is UploadOutcome.REFUSED:
            self.store.finish_upload(download.md5, claim, None, answer.reason, download.size)
            return ImageResolution(refused=answer.reason)
        self.store.release_upload(download.md5, claim)
        return ImageResolution(unavailable=f"upload failed: {answer.reason}")


def _filename(key: str) -> str:
    name = posixpath.basename(key) or "image"
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in name)[:100]
