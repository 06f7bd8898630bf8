"""The platform's HTTP: one shared urllib3 pool, explicit timeouts, and a clear line between
"not sent" (safe to retry) and "outcome unknown" (never re-sent blindly).

urllib3, not requests: botocore is built on it, so it is already loaded in every container,
and requests would add its own ~70 modules to every cold start for nothing this client uses
(README: Performance, cold start).

[ours] HTTP 5xx and 429, refused connections and connect timeouts are transient; a read
timeout or a connection dropped after the request went out leaves the outcome unknown. A
redirect is not followed: it is answered as what it is, the URL's status (check the URL).
"""

from __future__ import annotations

import secrets
import ssl
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import IO, Final
from urllib.parse import urlencode

from botocore.httpsession import where
from urllib3 import BaseHTTPResponse, PoolManager
from urllib3 import Timeout as UrllibTimeout
from urllib3.exceptions import ConnectTimeoutError, HTTPError, LocationValueError, SSLError
from urllib3.util.ssl_match_hostname import CertificateError

from messaggio_core.protocol.answer import Outcome, SendAnswer, read_answer
from messaggio_core.protocol.media import UploadAnswer, UploadOutcome, read_upload_answer

CONNECT_TIMEOUT: Final = 3.05  # seconds; a little over a TCP retransmit window
READ_TIMEOUT: Final = 10.0
USER_AGENT: Final = "messaggio-connector/0.1"
HEADERS: Final = {
    "User-Agent": USER_AGENT,
    "Accept": "*/*",
    "Accept-Encoding": "gzip, deflate",
}
FORM: Final = "application/x-www-form-urlencoded"


@dataclass(frozen=True, slots=True)
class Timeouts:
    connect: float = CONNECT_TIMEOUT
    read: float = READ_TIMEOUT


def _not_sent(exc: HTTPError) -> bool:
    """True when the request provably never reached the platform: no connection was made
    (refused, name not resolved, connect timeout: urllib3's NewConnectionError and
    NameResolutionError are ConnectTimeoutErrors), the TLS handshake failed, or the URL is
    not one. A read timeout or a dropped connection (ProtocolError) leaves it unknown, and
    so does a TLS error once the connection was set up (urllib3 raises the same SSLError
    whether it came from the handshake or from the answer)."""
    if isinstance(exc, SSLError):
        return _in_tls_setup(exc)
    return isinstance(exc, ConnectTimeoutError | LocationValueError)


def _in_tls_setup(exc: BaseException) -> bool:
    """True when a TLS error arose while the connection was being set up, before any byte of
    the request: in the handshake (ssl's do_handshake) or in the certificate's check."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, CertificateError | ssl.CertificateError):
            return True
        frame = seen.__traceback__
        while frame is not None:
            if frame.tb_frame.f_code.co_name == "do_handshake":
                return True
            frame = frame.tb_next
        seen = seen.__cause__ or seen.__context__
    return False


class PlatformClient:
    """Talks to the send and media URLs. Thread-safe: one PoolManager, a pool per host."""

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
        self._http: PoolManager | None = None
        self._lock = threading.Lock()

    @property
    def http(self) -> PoolManager:
        """Made on first use, so importing a handler costs no connection set-up. Connections
        are kept and reused (up to `pool` per host, two hosts: send and media)."""
        if self._http is None:
            with self._lock:
                if self._http is None:
                    self._http = PoolManager(
                        num_pools=2,
                        maxsize=self._pool,
                        block=False,
                        # No automatic retries: a retried POST could send a message twice.
                        # False also means errors arrive as themselves, not wrapped.
                        retries=False,
                        headers=HEADERS,
                        # The AWS SDK's own CA bundle (certifi's when installed).
                        ca_certs=where(),
                    )
        return self._http

    def _post(
        self,
        url: str,
        body: bytes | MultipartBody,
        headers: dict[str, str],
        read_timeout: float,
    ) -> BaseHTTPResponse:
        """One POST, its answer read whole (the platform's answers are small)."""
        return self.http.request(
            "POST",
            url,
            body=body,
            headers={**HEADERS, **headers},
            timeout=UrllibTimeout(connect=self.timeouts.connect, read=read_timeout),
            redirect=False,
        )

    def submit(self, form: Sequence[tuple[str, bytes]], phones: list[str]) -> SendAnswer:
        """POSTs one send request (section A) and reads its answer (section D)."""
        if self.send_url is None:
            raise ValueError("this client has no send URL")
        try:
            response = self._post(
                self.send_url,
                urlencode(list(form)).encode("ascii"),
                {"Content-Type": FORM},
                self.timeouts.read,
            )
        except HTTPError as exc:
            if _not_sent(exc):
                return SendAnswer(Outcome.RETRIED, None, f"not sent: {type(exc).__name__}")
            return SendAnswer(Outcome.UNKNOWN, None, f"answer lost: {type(exc).__name__}")
        status = response.status
        if status == 429 or status >= 500:
            return SendAnswer(Outcome.RETRIED, None, f"HTTP {status} from the platform")
        if status != 200:
            # A 4xx other than 429 is a misconfigured URL or a proxy in the way: no message
            # can get through until a person fixes it, so it is treated like an account problem.
            return SendAnswer(
                Outcome.ACCOUNT_PROBLEM, None, f"HTTP {status} from the platform (check the URL)"
            )
        return read_answer(response.data, phones)

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
            response = self._post(
                self.media_url,
                body,
                {"Content-Type": body.content_type, "Content-Length": str(len(body))},
                self.timeouts.read * 3,
            )
        except (HTTPError, OSError) as exc:
            # OSError: reading the file while streaming it (MultipartBody), in case urllib3
            # lets one through as itself rather than as a ProtocolError.
            return UploadAnswer(UploadOutcome.RETRIED, None, None, type(exc).__name__)
        if response.status != 200:
            return UploadAnswer(UploadOutcome.RETRIED, None, None, f"HTTP {response.status}")
        return read_upload_answer(response.data)


class MultipartBody:
    """A multipart/form-data body read in chunks, with its length known up front.

    Hand-written because urllib3 (like requests) builds multipart bodies whole in memory; a
    10 MB image should cost a chunk of RAM, not its size several times over.
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
