"""Section F: media upload. [prev] the request, the answer and its status codes;
[ours] what is permanent and what is retried, and reading the answer defensively.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from messaggio_core.protocol.ids import IMAGE_ID_MAX

MAX_BYTES: Final = 10 * 1024 * 1024  # [prev] 10 MB

# [prev] JPG, PNG or GIF; [ours] judged by content, never by file name.
MAGIC: Final[dict[str, tuple[bytes, ...]]] = {
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/gif": (b"GIF87a", b"GIF89a"),
}
SNIFF_BYTES: Final = 8

# [prev] upload error statuses; [ours] all four are permanent.
STATUSES: Final[dict[int, str]] = {
    1: "incorrect data",
    2: "incorrect signature",
    3: "file over the maximum size (10 MB)",
    4: "format not accepted (JPG, GIF, PNG)",
}


def sniff(head: bytes) -> str | None:
    """The image's content type from its first bytes, or None if it is not JPG/PNG/GIF."""
    for content_type, prefixes in MAGIC.items():
        if head.startswith(prefixes):
            return content_type
    return None


def local_problem(size: int, head: bytes) -> str | None:
    """Why the platform would refuse this file, known before uploading it."""
    if size == 0:
        return "empty file"
    if size > MAX_BYTES:
        return f"file over the maximum size ({MAX_BYTES} bytes)"
    if sniff(head) is None:
        return "not a JPG, PNG or GIF image (judged by content)"
    return None


class UploadOutcome(StrEnum):
    """What became of one image: the one word for it everywhere. The platform's answer
    (below) gives UPLOADED, REFUSED or RETRIED; the media function counts each under the
    metric of the same name (messaggio_media.handler.METRIC: RETRIED is `MediaRetried`)."""

    UPLOADED = "uploaded"  # this call uploaded it
    CACHED = "cached"  # [ours] the same content was uploaded before: not again
    REFUSED = "refused"  # by the platform or the local checks: permanent, never retried
    RETRIED = "retried"  # the answer could not be read, network, 5xx, or another upload of
    # it still running: tried again later (an upload is harmless)


@dataclass(frozen=True, slots=True)
class UploadAnswer:
    outcome: UploadOutcome
    image_id: str | None
    status: int | None
    reason: str


_STATUS_RE: Final = re.compile(rb'"status"\s*:\s*(-?\d+)')


def read_upload_answer(raw: bytes) -> UploadAnswer:
    """The platform's JSON answer to an upload; never raises.

    The predecessor's own example of an error answer is not valid JSON
    (`{"status": 2, error: "Invalid sign"}`), so the status is also read from such text.
    """
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        match = _STATUS_RE.search(raw[:4096])
        if match and int(match[1]) in STATUSES:
            status = int(match[1])
            return UploadAnswer(UploadOutcome.REFUSED, None, status, STATUSES[status])
        return UploadAnswer(UploadOutcome.RETRIED, None, None, "unreadable upload answer")
    if not isinstance(data, dict) or not isinstance(data.get("status"), int):
        return UploadAnswer(UploadOutcome.RETRIED, None, None, "upload answer without status")
    status = data["status"]
    if status == 0:
        image_id = data.get("image_id")
        if isinstance(image_id, str) and 0 < len(image_id) <= IMAGE_ID_MAX:
            return UploadAnswer(UploadOutcome.UPLOADED, image_id, 0, "uploaded")
        return UploadAnswer(UploadOutcome.RETRIED, None, 0, "status 0 without an image_id")
    error = data.get("error")
    detail = STATUSES.get(status, f"unknown status {status}")
    if isinstance(error, str) and error:
        detail = f"{detail}: {error[:200]}"
    if status in STATUSES:
        return UploadAnswer(UploadOutcome.REFUSED, None, status, detail)
    return UploadAnswer(UploadOutcome.RETRIED, None, status, detail)
