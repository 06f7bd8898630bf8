"""The platform's HTTP: one shared requests.Session, explicit timeouts, and a clear line
between "not sent" (safe to retry) and "outcome unknown" (never re-sent blindly).

[ours] HTTP 5xx and 429, refused connections and connect timeouts are transient; a read
timeout or a connection dropped after the request went out leaves the outcome unknown.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import IO, Final

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import NameResolutionError, NewConnectionError

from messaggio_core.protocol.answer import Outcome, SendAnswer, read_answer
from messaggio_core.protocol.media import UploadAnswer, UploadOutcome, read_upload_answer

CONNECT_TIMEOUT: Final = 3.05  # seconds; a little over a TCP retransmit window
READ_TIMEOUT: Final = 10.0
USER_AGENT: Final = "messaggio-connector/0.1"


@dataclass(frozen=True, slots=True)
class Timeouts:
    connect: float = CONNECT_TIMEOUT
    read: float = READ_TIMEOUT


def _not_sent(exc: requests.RequestException) -> bool:
    """True when the request provably never reached the platform."""
    if isinstance(exc, requests.ConnectTimeout | requests.exceptions.SSLError):
        return True
    if isinstance(exc, requests.ConnectionError):
        reason = exc.args[0] if exc.args else None
        inner = getattr(reason, "reason", reason)
        return isinstance(inner, NewConnectionError | NameResolutionError)
    return isinstance(exc, requests.exceptions.InvalidURL | requests.exceptions.MissingSchema)


class PlatformClient:
    """Talks to the send and media URLs. Thread-safe: one Session, a pool per host."""

    def __init__(
        self,
        send_url: str | None,
        media_url: str | None,
        timeouts: Timeouts | None = None,
        pool: int = 16,
    ) -> None:
        self.send_url = send_url
        self.media_url = media_url
        self.timeouts = timeouts or Timeouts()
        self._pool = pool
        self._session: requests.Session | None = None
        self._lock = threading.Lock()

    @property
    def session(self) -> requests.Session:
        """Made on first use, so importing a handler costs no connection set-up."""
        if self._session is None:
            with self._lock:
                if self._session is None:
                    session = requests.Session()
                    # No automatic retries: a retried POST could send a message twice.
                    adapter = HTTPAdapter(
                        pool_connections=2, pool_maxsize=self._pool, max_retries=0
                    )
                    session.mount("http://", adapter)
                    session.mount("https://", adapter)
                    session.headers["User-Agent"] = USER_AGENT
                    self._session = session
        return self._session

    def submit(self, form: Sequence[tuple[str, bytes]], phones: list[str]) -> SendAnswer:
        """POSTs one send request (section A) and reads its answer (section D)."""
        if self.send_url is None:
            raise ValueError("this client has no send URL")
        try:
            response = self.session.post(
                self.send_url,
                data=list(form),
                timeout=(self.timeouts.connect, self.timeouts.read),
            )
        except requests.RequestException as exc:
            if _not_sent(exc):
                return SendAnswer(Outcome.RETRIED, None, f"not sent: {type(exc).__name__}")
            return SendAnswer(Outcome.UNKNOWN, None, f"answer lost: {type(exc).__name__}")
        status = response.status_code
        if status == 429 or status >= 500:
            return SendAnswer(Outcome.RETRIED, None, f"HTTP {status} from the platform")
        if status != 200:
            # A 4xx other than 429 is a misconfigured URL or a proxy in the way: no message
            # can get through until a person fixes it, so it is treated like an account problem.
            return SendAnswer(
                Outcome.ACCOUNT_PROBLEM, None, f"HTTP {status} from the platform (check the URL)"
            )
        return read_answer(response.content, phones)

    def upload(
        self,
        *,
        login: str,
        sign: str,
        filename: str,
        content_type: str,
        file: IO[bytes],
        size: int,
    ) -> UploadAnswer:
        """POSTs one image (section F) as a streamed multipart body.

        An upload is safe to repeat (it only costs a second image_id), so every failure that
        is not the platform's own refusal is RETRIED.
        """
        if self.media_url is None:
            raise ValueError("this client has no media URL")
        body = MultipartBody(
            {"login": login, "sign": sign}, ("image", filename, content_type, file, size)
        )
        try:
            response = self.session.post(
                self.media_url,
                data=body,
                headers={"Content-Type": body.content_type, "Content-Length": str(len(body))},
                timeout=(self.timeouts.connect, self.timeouts.read * 3),
            )
        except requests.RequestException as exc:
            return UploadAnswer(UploadOutcome.RETRIED, None, None, type(exc).__name__)
        if response.status_code != 200:
            return UploadAnswer(UploadOutcome.RETRIED, None, None, f"HTTP {response.status_code}")
        return read_upload_answer(response.content)


class MultipartBody:
    """A multipart/form-data body read in chunks, with its length known up front.

    Hand-written because requests builds multipart bodies whole in memory and the streaming
    encoder lives in another package (requests-toolbelt); a 10 MB image should cost a chunk
    of RAM, not its size several times over.
    """

    CHUNK: Final = 64 * 1024

    def __init__(self, fields: dict[str, str], file: tuple[str, str, str, IO[bytes], int]) -> None:
        self.boundary = "----messaggio-" + _token()
        name, filename, content_type, self._file, self._size = file
        head = b"".join(
            self._part_head(key, None, None) + value.encode() + b"\r\n"
            for key, value in fields.items()
        )
        self._head = head + self._part_head(name, filename, content_type)
        self._tail = f"\r\n--{self.boundary}--\r\n".encode()

    def _part_head(self, name: str, filename: str | None, content_type: str | None) -> bytes:
        disposition = f'form-data; name="{name}"'
        if filename is not None:
            safe = filename.replace('"', "_").replace("\r", "_").replace("\n", "_")
            disposition += f'; filename="{safe}"'
        lines = [f"--{self.boundary}", f"Content-Disposition: {disposition}"]
        if content_type is not None:
            lines.append(f"Content-Type: {content_type}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode()

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    def __len__(self) -> int:
        return len(self._head) + self._size + len(self._tail)

    def __iter__(self) -> Iterator[bytes]:
        yield self._head
        sent = 0
        while sent < self._size:
            chunk = self._file.read(min(self.CHUNK, self._size - sent))
            if not chunk:
                raise OSError("the image ended before its announced size")
            sent += len(chunk)
            yield chunk
        yield self._tail


def _token() -> str:
    return secrets.token_hex(12)
