"""The sandbox's transport: a threaded HTTP/1.1 server on loopback that runs one WSGI app.

http.server rather than werkzeug's development server, which closes every connection after one
answer: the connector keeps connections to the platform alive, and so must its stand-in. Each
request's body is read in full here (Content-Length or chunked), so the connection stays usable
whatever the app reads. The app answers as a platform can misbehave: a ``Connection: close``
header closes the connection after the answer, raising ``Drop`` closes it with no answer at all.
``RAW_URI`` and ``environ[RAW_HEADERS]`` keep the target and headers exactly as sent.
"""

from __future__ import annotations

import contextlib
import io
import ipaddress
import logging
import socket
import sys
import threading
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from .wire import TEXT_TYPE

if TYPE_CHECKING:
    from wsgiref.types import WSGIApplication

log = logging.getLogger("messaggio_sandbox")

MAX_BODY_BYTES = 32 * 1024 * 1024  # well above a 10 MB image in multipart
RAW_HEADERS = "messaggio_sandbox.headers"  # environ key: the headers as sent (names keep case)


class Drop(Exception):
    """Raised by the app: close the connection without an answer."""


def loopback(host: str) -> tuple[str, socket.AddressFamily, str]:
    """(bind address, family, URL host) for a loopback host; ValueError for anything else.

    The sandbox accepts any request without real credentials, so it must never be reachable
    from another machine.
    """
    if host == "localhost":
        return "127.0.0.1", socket.AF_INET, "127.0.0.1"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"sandbox binds to loopback only, not {host!r}") from None
    if isinstance(address, ipaddress.IPv4Address) and address in ipaddress.ip_network(
        "127.0.0.0/8"
    ):
        return str(address), socket.AF_INET, str(address)
    if address == ipaddress.IPv6Address("::1"):
        return "::1", socket.AF_INET6, "[::1]"
    raise ValueError(f"sandbox binds to loopback only, not {host!r}")


class LoopbackServer(ThreadingHTTPServer):
    """Serves ``app`` from a background thread; refuses peers ``peers`` does not allow.

    ``stopping`` set means: answer nothing more. ``stop`` also cuts kept-alive connections.
    """

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256  # many concurrent clients (benchmarks) must not be reset

    def __init__(
        self,
        address: tuple[str, int],
        family: socket.AddressFamily,
        app: WSGIApplication,
        stopping: threading.Event,
        peers: Callable[[str], bool] | None = None,
    ) -> None:
        self.address_family = family
        self.app = app
        self.stopping = stopping
        self.peers = peers
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind does a reverse DNS lookup (getfqdn); loopback needs none.
        self.socket.bind(self.server_address)
        self.server_address = self.socket.getsockname()
        self.server_name = str(self.server_address[0])
        self.server_port = int(self.server_address[1])

    def verify_request(self, request: Any, client_address: Any) -> bool:
        return self.peers is None or self.peers(str(client_address[0]))

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self.serve_forever,
            kwargs={"poll_interval": 0.01},
            name="sandbox-platform",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and shut down kept-alive connections, so no request gets through."""
        self.shutdown()
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        self.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def track(self, connection: socket.socket, open_: bool) -> None:
        with self._connections_lock:
            if open_:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)


class _BodyError(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


class _Handler(BaseHTTPRequestHandler):
    """Reads one request fully, runs the app, writes (or withholds) its answer."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go in two writes: no 40 ms ACK stall
    server: LoopbackServer
    timeout = 60  # idle keep-alive connections do not live forever

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, False)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    def _handle(self) -> None:
        if self.server.stopping.is_set():
            self.close_connection = True
            return
        try:
            body = self._read_body()
        except _BodyError as error:
            self.close_connection = True
            self._write(error.status, [("Content-Type", TEXT_TYPE)], [b"bad request body"])
            return
        started: list[tuple[int, list[tuple[str, str]]]] = []
        written: list[bytes] = []

        def start_response(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Callable[[bytes], object]:
            started.append((int(status.split(None, 1)[0]), headers))
            return written.append

        try:
            chunks = self.server.app(self._environ(body), start_response)
        except Drop:
            self.close_connection = True
            return
        with contextlib.suppress(OSError):  # a client that gave up (a hang's point) is no error
            self._write(*started[-1], [*written, *_drain(chunks)])

    # http.server names its method hooks; every method the platform may see goes to the app
    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _handle  # noqa: N815

    def _environ(self, body: bytes) -> dict[str, Any]:
        """PEP 3333's environ for this request; the body is already read in full."""
        path, _, query = self.path.partition("?")
        environ: dict[str, Any] = {
            "REQUEST_METHOD": self.command,
            "SCRIPT_NAME": "",
            "PATH_INFO": unquote(path, "latin-1"),
            "QUERY_STRING": query,
            "RAW_URI": self.path,  # as gunicorn and werkzeug's server do
            RAW_HEADERS: dict(self.headers.items()),
            "SERVER_NAME": self.server.server_name,
            "SERVER_PORT": str(self.server.server_port),
            "SERVER_PROTOCOL": self.request_version,
            "REMOTE_ADDR": str(self.client_address[0]),
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(body),
            "wsgi.input_terminated": True,
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
        }
        for name, value in self.headers.items():
            key = name.upper().replace("-", "_")
            if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
                key = f"HTTP_{key}"
            environ[key] = f"{environ[key]},{value}" if key in environ else value
        return environ

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            return self._read_chunked()
        length_header = self.headers.get("Content-Length")
        if length_header is None:
            return b""
        try:
            length = int(length_header)
        except ValueError:
            raise _BodyError(400) from None
        if length < 0:
            raise _BodyError(400)
        if length > MAX_BODY_BYTES:
            raise _BodyError(413)
        return self.rfile.read(length)

    def _read_chunked(self) -> bytes:
        body = bytearray()
        while True:
            line = self.rfile.readline(65_537)
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise _BodyError(400) from None
            if size == 0:
                while self.rfile.readline(65_537) not in (b"\r\n", b"\n", b""):
                    pass
                return bytes(body)
            if len(body) + size > MAX_BODY_BYTES:
                raise _BodyError(413)
            body += self.rfile.read(size)
            self.rfile.readline(65_537)

    def _write(self, status: int, headers: list[tuple[str, str]], chunks: list[bytes]) -> None:
        """Write the answer; a ``Connection: close`` header closes the connection after it."""
        body = b"".join(chunks)
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)  # Connection: close sets close_connection
        names = {name.lower() for name, _ in headers}
        if "content-length" not in names:
            self.send_header("Content-Length", str(len(body)))
        if self.close_connection and "connection" not in names:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.wfile.flush()


def _drain(chunks: Iterable[bytes]) -> list[bytes]:
    """A WSGI app's answer, read and closed (PEP 3333 asks the server to close it)."""
    try:
        return list(chunks)
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
