"""The media surface (docs/protocol.md section F): judge an upload by ``checks``, issue an
image_id."""

from __future__ import annotations

import json
import secrets
import threading
from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Response

from . import checks
from .wire import MULTIPART_TYPE, TEXT_TYPE, Answer, Part

if TYPE_CHECKING:
    from .server import SandboxPlatform

JSON_TYPE = "application/json"


def answer(status: int, error: str | None = None, image_id: str | None = None) -> Response:
    """Section F's answer."""
    body: dict[str, Any] = {"status": status}
    if image_id is not None:
        body["image_id"] = image_id
    if error is not None:
        body["error"] = error
    return Response(json.dumps(body).encode("utf-8"), content_type=JSON_TYPE)


class MediaSurface:
    """The image_ids issued to the account, thread-safe; accounts are read from ``platform``."""

    def __init__(self, platform: SandboxPlatform) -> None:
        self._platform = platform
        self._lock = threading.Lock()
        self._image_ids: set[str] = set()

    @property
    def image_ids(self) -> set[str]:
        with self._lock:
            return set(self._image_ids)

    def know(self, image_id: str) -> None:
        with self._lock:
            self._image_ids.add(image_id)

    def handle(
        self, method: str, mimetype: str, parts: list[Part], parts_error: str | None
    ) -> Answer:
        """Section F; a fresh image_id for every accepted upload."""
        if method != "POST":
            return Answer(Response(b"POST multipart/form-data", 405, content_type=TEXT_TYPE))
        if mimetype != MULTIPART_TYPE or parts_error is not None:
            what = "multipart body" if mimetype == MULTIPART_TYPE else "content type"
            verdict = checks.UploadVerdict(checks.UPLOAD_INCORRECT_DATA, f"incorrect data ({what})")
        else:
            verdict = checks.check_upload(parts, self._platform.accounts)
        if verdict.status != checks.UPLOAD_OK:
            return Answer(answer(verdict.status, verdict.error), code=verdict.status)
        with self._lock:
            while True:
                image_id = "".join(
                    secrets.choice(checks.IMAGE_ID_ALPHABET) for _ in range(checks.IMAGE_ID_LENGTH)
                )
                if image_id not in self._image_ids:
                    break
            self._image_ids.add(image_id)
        return Answer(
            answer(checks.UPLOAD_OK, image_id=image_id), code=checks.UPLOAD_OK, accepted=True
        )
