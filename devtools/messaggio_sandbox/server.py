"""The sandbox platform: a loopback HTTP server that answers as the platform does.

It judges sends and uploads by docs/protocol.md sections A-D and F (rules in ``checks``), sends
delivery reports by section E (``reports``), records every request byte for byte, and
misbehaves on demand (``faults``), so the connector can be tested against a real socket.
"""

from __future__ import annotations

import bisect
import contextlib
import ipaddress
import json
import logging
import random
import secrets
import socket
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Literal
from xml.sax.saxutils import escape, quoteattr

from . import checks
from .faults import Fault, FaultPlan
from .reports import ReportAttempt, ReportDispatcher, Scenario, plan
from .wire import (
    FORM_TYPE,
    MULTIPART_TYPE,
    MultipartError,
    Params,
    Part,
    media_type,
    parse_form,
    parse_multipart,
)

log = logging.getLogger("messaggio_sandbox")

SEND_PATHS = ("/send", "/send/")
UPLOAD_PATHS = ("/upload/", "/upload")
MAX_BODY_BYTES = 32 * 1024 * 1024  # well above a 10 MB image in multipart
XML_TYPE = "text/xml; charset=utf-8"
JSON_TYPE = "application/json"
TEXT_TYPE = "text/plain; charset=utf-8"

RequestKind = Literal["send", "upload", "other"]


@dataclass(frozen=True)
class RecordedRequest:
    """One request as received, and what the sandbox made of it.

    ``params`` are (name, value) pairs exactly as sent: percent-decoded to bytes, from the
    query string, then the form body (or the multipart parts, a file part's value being the
    file's bytes). ``status`` is None when no answer was given (drop, hang). ``accepted`` means
    the platform took it (code 0 / upload status 0), even if a fault then lost the answer.
    """

    kind: RequestKind
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    params: list[tuple[str, bytes]]
    received_at: float
    status: int | None
    answer: bytes
    accepted: bool
    code: int | None
    msg_ids: dict[str, str] = field(default_factory=dict)
    fault: str | None = None

    def param(self, name: str) -> bytes | None:
        """The first value of ``name`` (possibly empty), or None if it was not sent."""
        return next((value for key, value in self.params if key == name), None)

    def all(self, name: str) -> list[bytes]:
        """Every value of ``name``, in order."""
        return [value for key, value in self.params if key == name]

    def text(self, name: str, encoding: str = "utf-8") -> str | None:
        """The first value of ``name`` decoded with ``encoding``."""
        value = self.param(name)
        return None if value is None else value.decode(encoding)

    @property
    def phones(self) -> list[str]:
        """The non-empty ``phone`` values (the recipients), as text."""
        return [value.decode("latin-1") for value in self.all("phone") if value]


@dataclass(frozen=True)
class SentMessage:
    """One recipient of an accepted send: what reports are joined on."""

    msg_id: str | None
    phone: str
    p_transaction_id: str | None
    sending_method: str
    accepted_at: float


@dataclass(frozen=True)
class _Incoming:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes
    received_at: float


@dataclass(frozen=True)
class _Outcome:
    status: int
    content_type: str
    body: bytes
    action: Literal["answer", "drop", "hang"] = "answer"
    hang_seconds: float = 0.0


def _loopback(host: str) -> tuple[str, socket.AddressFamily, str]:
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


class _Server(ThreadingHTTPServer):
    """ThreadingHTTPServer that knows its platform and can cut every open connection."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256  # many concurrent clients (benchmarks) must not be reset

    def __init__(
        self, address: tuple[str, int], family: socket.AddressFamily, platform: SandboxPlatform
    ) -> None:
        self.address_family = family
        self.platform = platform
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind does a reverse DNS lookup (getfqdn); loopback needs none.
        self.socket.bind(self.server_address)
        self.server_address = self.socket.getsockname()
        self.server_name = str(self.server_address[0])
        self.server_port = int(self.server_address[1])

    def verify_request(self, request: Any, client_address: Any) -> bool:
        peers = self.platform.peers
        return peers is None or peers(str(client_address[0]))

    def track(self, connection: socket.socket, open_: bool) -> None:
        with self._connections_lock:
            if open_:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def cut_connections(self) -> None:
        """Shut down kept-alive connections, so no request reaches a stopped sandbox."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class _BodyError(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


class _Handler(BaseHTTPRequestHandler):
    """Reads one request fully, lets the platform decide, writes (or withholds) the answer."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go in two writes: no 40 ms ACK stall
    server: _Server
    timeout = 60  # idle keep-alive connections do not live forever

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, False)

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def do_PATCH(self) -> None:
        self._handle()

    def do_HEAD(self) -> None:
        self._handle()

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    def _handle(self) -> None:
        platform = self.server.platform
        received_at = time.monotonic()
        if platform.stopping:
            self.close_connection = True
            return
        try:
            body = self._read_body()
        except _BodyError as error:
            self.close_connection = True
            self._write(_Outcome(error.status, TEXT_TYPE, b"bad request body"))
            return
        incoming = _Incoming(
            self.command, self.path, {k: v for k, v in self.headers.items()}, body, received_at
        )
        outcome = platform._exchange(incoming)
        if outcome.action == "drop":
            self.close_connection = True
            return
        if outcome.action == "hang":
            self.close_connection = True
            platform._sleep(outcome.hang_seconds)
            with contextlib.suppress(OSError):  # the client gave up long ago: the point
                self._write(outcome)
            return
        self._write(outcome)

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

    def _write(self, outcome: _Outcome) -> None:
        self.send_response(outcome.status)
        self.send_header("Content-Type", outcome.content_type)
        self.send_header("Content-Length", str(len(outcome.body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(outcome.body)
        self.wfile.flush()


def _send_xml(code: int, tech_message: str, msg_ids: Sequence[tuple[str, str]]) -> bytes:
    """Section D's answer."""
    parts = [
        '<?xml version="1.0" encoding="utf-8"?>',
        "<response>",
        f"<code>{code}</code>",
        f"<tech_message>{escape(tech_message)}</tech_message>",
    ]
    parts.extend(
        f"<msg_id phone={quoteattr(phone)}>{escape(mid)}</msg_id>" for phone, mid in msg_ids
    )
    parts.append("</response>")
    return "".join(parts).encode("utf-8")


def _upload_json(status: int, error: str | None = None, image_id: str | None = None) -> bytes:
    """Section F's answer."""
    answer: dict[str, Any] = {"status": status}
    if image_id is not None:
        answer["image_id"] = image_id
    if error is not None:
        answer["error"] = error
    return json.dumps(answer).encode("utf-8")


class SandboxPlatform:
    """A local stand-in for the platform, by docs/protocol.md sections A-F.

    ``accounts`` maps logins to secret keys. ``callback_url`` (settable later) receives the
    delivery reports, by ``report_method``. ``balance`` (None: unlimited) counts recipients.
    ``latency`` delays every answer. ``seed`` makes shuffles reproducible.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        accounts: Mapping[str, str] | None = None,
        callback_url: str | None = None,
        report_method: str = "GET",
        balance: int | None = None,
        latency: float = 0.0,
        seed: int = 0,
        *,
        scenario: Scenario | None = None,
        report_retry_gaps: Sequence[float] = (0.05, 0.1, 0.2),
        report_timeout: float = 5.0,
        peers: Callable[[str], bool] | None = None,
    ) -> None:
        if host == "0.0.0.0" and peers is not None:
            # The local stack's `--containers` mode: reachable by containers on this host,
            # every other peer refused before its request is read.
            self._bind_host, self._family, self._url_host = host, socket.AF_INET, "127.0.0.1"
        else:
            self._bind_host, self._family, self._url_host = _loopback(host)
        self.peers = peers
        if not 0 <= port <= 65_535:
            raise ValueError(f"bad port {port}")
        self._port = port
        self.accounts: dict[str, str] = dict(
            accounts if accounts is not None else {"acme": "s3cr3t-Key"}
        )
        if report_method.upper() not in ("GET", "POST"):
            raise ValueError("report_method is GET or POST (section E)")
        self.callback_url = callback_url
        self.report_method = report_method.upper()
        self._balance = balance
        self.latency = latency
        self._initial_scenario = scenario if scenario is not None else Scenario.delivered()
        self.scenario: Scenario = self._initial_scenario
        self._lock = threading.RLock()
        self._records: list[RecordedRequest] = []
        self._messages: list[SentMessage] = []
        self._image_ids: set[str] = set()
        self._overrides: dict[str, Scenario] = {}
        self._rng = random.Random(seed)
        self._faults = FaultPlan()
        self._stopping = threading.Event()
        self._reports = ReportDispatcher(report_retry_gaps, report_timeout, self._stopping)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> SandboxPlatform:
        """Bind and serve in a background thread."""
        if self._server is not None or self._stopping.is_set():
            raise RuntimeError("a sandbox starts once")
        self._server = _Server((self._bind_host, self._port), self._family, self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.01},
            name="sandbox-platform",
            daemon=True,
        )
        self._thread.start()
        log.info("sandbox platform at %s", self.url)
        return self

    def stop(self) -> None:
        """Stop serving, cut open connections, abandon reports not yet sent."""
        if self._server is None or self._stopping.is_set():
            self._stopping.set()
            return
        self._stopping.set()
        self._server.shutdown()
        self._server.cut_connections()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> SandboxPlatform:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("not started")
        return self._server.server_port

    @property
    def url(self) -> str:
        return f"http://{self._url_host}:{self.port}"

    @property
    def send_url(self) -> str:
        return f"{self.url}/send"

    @property
    def media_url(self) -> str:
        return f"{self.url}/upload/"

    # --- state -----------------------------------------------------------------------------

    @property
    def balance(self) -> int | None:
        """Recipients the account can still send to (None: unlimited)."""
        with self._lock:
            return self._balance

    @balance.setter
    def balance(self, value: int | None) -> None:
        with self._lock:
            self._balance = value

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received, in arrival order (a copy)."""
        with self._lock:
            return list(self._records)

    def sends(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.kind == "send"]

    def uploads(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.kind == "upload"]

    def know_image(self, image_id: str) -> None:
        """An image_id as if issued by an earlier upload (the shipped events name one)."""
        with self._lock:
            self._image_ids.add(image_id)

    @property
    def image_ids(self) -> set[str]:
        """Every image_id issued (a copy)."""
        with self._lock:
            return set(self._image_ids)

    @property
    def messages(self) -> list[SentMessage]:
        """One entry per recipient of every accepted send, in acceptance order."""
        with self._lock:
            return list(self._messages)

    @property
    def report_log(self) -> list[ReportAttempt]:
        """Every report delivery attempt, in order."""
        return self._reports.log

    def reset(self) -> None:
        """Forget records, faults, scenario overrides and report logs; abandon pending reports.

        Account state (balance, issued image_ids) stays, as it would on the platform.
        """
        with self._lock:
            self._records.clear()
            self._messages.clear()
            self._overrides.clear()
            self.scenario = self._initial_scenario
        self._faults.clear()
        self._reports.clear()

    # --- scenarios and reports -------------------------------------------------------------

    def scenario_for(self, phone: str, scenario: Scenario | None) -> None:
        """Use ``scenario`` for this phone's reports (None: back to the default)."""
        with self._lock:
            if scenario is None:
                self._overrides.pop(phone, None)
            else:
                self._overrides[phone] = scenario

    def wait_reports(self, timeout: float = 10.0) -> bool:
        """Block until every scheduled report was delivered or given up; False on timeout."""
        return self._reports.wait(timeout)

    def report(
        self,
        msg_id: str,
        p_transaction_id: str | None = None,
        *,
        callback_url: str | None = None,
        report_method: str | None = None,
        **fields: str | int,
    ) -> ReportAttempt:
        """Send one hand-made report now (one attempt, no retry) and return the attempt."""
        url = callback_url or self.callback_url
        if not url:
            raise RuntimeError("no callback_url")
        params = {"msg_id": msg_id}
        if p_transaction_id is not None:
            params["p_transaction_id"] = p_transaction_id
        params.update({key: str(value) for key, value in fields.items()})
        method = (report_method or self.report_method).upper()
        return self._reports.send_one(
            url, method, params, attempt=len(self._reports.retry_gaps) + 1
        )

    # --- faults ----------------------------------------------------------------------------

    def inject(self, fault: Fault, times: int = 1, kind: str = "send") -> None:
        """Apply ``fault`` to the next ``times`` requests of ``kind`` (send/upload/other/any)."""
        self._faults.inject(fault, times, kind)

    def random_faults(
        self, odds: Mapping[Fault, float] | None, seed: int | None = None, kind: str = "send"
    ) -> None:
        """Give each ``kind`` request these odds of each fault (None or {} turns it off)."""
        self._faults.set_random(odds, seed, kind)

    # --- measurements ----------------------------------------------------------------------

    def _weighted(self, kind: str, weight: str) -> list[tuple[float, int]]:
        if weight not in ("recipients", "requests"):
            raise ValueError("weight is 'recipients' or 'requests'")
        out = []
        for record in self.requests:
            if record.kind != kind:
                continue
            count = len(record.phones) if weight == "recipients" and kind == "send" else 1
            out.append((record.received_at, count))
        return out

    def max_per_second(self, kind: str = "send", weight: str = "recipients") -> int:
        """The most recipients (or requests) arriving in any sliding 1-second window."""
        events = self._weighted(kind, weight)
        best = total = start = 0
        for at, count in events:
            total += count
            while at - events[start][0] >= 1.0:
                total -= events[start][1]
                start += 1
            best = max(best, total)
        return best

    def arrival_rate(self, kind: str = "send", weight: str = "recipients") -> float:
        """Recipients (or requests) a second between the first and last arrival.

        The first arrival's weight is left out, so a steady rate r measures as r.
        """
        events = self._weighted(kind, weight)
        if len(events) < 2:
            return 0.0
        span = events[-1][0] - events[0][0]
        if span <= 0:
            return float("inf")
        return sum(count for _, count in events[1:]) / span

    # --- the exchange ----------------------------------------------------------------------

    def _sleep(self, seconds: float) -> None:
        """Sleep, but wake at once when the sandbox stops."""
        if seconds > 0:
            self._stopping.wait(seconds)

    def _exchange(self, incoming: _Incoming) -> _Outcome:
        """Decide the answer to one request, record it, schedule its reports."""
        path, _, query = incoming.target.partition("?")
        kind: RequestKind = (
            "send" if path in SEND_PATHS else "upload" if path in UPLOAD_PATHS else "other"
        )
        fault = self._faults.next_for(kind)
        self._sleep(self.latency)
        if fault is not None and fault.kind == "latency":
            self._sleep(fault.seconds)

        params: Params = parse_form(query.encode("latin-1"))
        ctype, boundary = media_type(incoming.headers.get("Content-Type"))
        parts_error: str | None = None
        parts: list[Part] = []
        if ctype == MULTIPART_TYPE:
            try:
                parts = parse_multipart(incoming.body, boundary or "")
            except MultipartError as error:
                parts_error = str(error)
            params.extend((part.name, part.data) for part in parts)
        elif ctype == FORM_TYPE or (not ctype and incoming.method == "POST"):
            params.extend(parse_form(incoming.body))

        accepted = False
        code: int | None = None
        msg_ids: list[tuple[str, str]] = []
        if fault is not None and not fault.processes:
            outcome, code = self._fault_answer(fault, kind)
        elif kind == "send":
            if incoming.method not in ("GET", "POST"):
                outcome = _Outcome(405, TEXT_TYPE, b"GET or POST")
            else:
                code, tech_message, msg_ids = self._process_send(params)
                accepted = code == checks.CODE_OK
                outcome = _Outcome(200, XML_TYPE, _send_xml(code, tech_message, msg_ids))
        elif kind == "upload":
            if incoming.method != "POST":
                outcome = _Outcome(405, TEXT_TYPE, b"POST multipart/form-data")
            else:
                code, answer = self._process_upload(ctype, parts, parts_error)
                accepted = code == checks.UPLOAD_OK
                outcome = _Outcome(200, JSON_TYPE, answer)
        else:
            outcome = _Outcome(404, TEXT_TYPE, b"not found")

        status: int | None = outcome.status
        if fault is not None and fault.kind in ("hang", "drop"):
            status = None
            outcome = _Outcome(
                outcome.status,
                outcome.content_type,
                outcome.body,
                action=fault.kind,
                hang_seconds=fault.seconds,
            )
        record = RecordedRequest(
            kind=kind,
            method=incoming.method,
            path=path,
            headers=incoming.headers,
            body=incoming.body,
            params=params,
            received_at=incoming.received_at,
            status=status,
            answer=outcome.body if status is not None else b"",
            accepted=accepted,
            code=code,
            msg_ids=dict(msg_ids),
            fault=fault.describe() if fault is not None else None,
        )
        with self._lock:
            bisect.insort(self._records, record, key=lambda r: r.received_at)
        return outcome

    def _fault_answer(self, fault: Fault, kind: str) -> tuple[_Outcome, int | None]:
        if fault.kind == "code":
            if kind == "upload":
                body = _upload_json(fault.platform_code, error=fault.tech_message)
                return _Outcome(200, JSON_TYPE, body), fault.platform_code
            body = _send_xml(fault.platform_code, fault.tech_message, [])
            return _Outcome(200, XML_TYPE, body), fault.platform_code
        if fault.kind == "http":
            return _Outcome(fault.http_status, TEXT_TYPE, fault.http_body), None
        return _Outcome(0, TEXT_TYPE, b"", action="drop"), None

    def _process_send(self, params: Params) -> tuple[int, str, list[tuple[str, str]]]:
        """Sections A-D, then the balance, then the bookkeeping reports need."""
        verdict = checks.check_send(params, self.accounts, self.image_ids)
        request = verdict.request
        if request is None:
            return verdict.code, verdict.tech_message, []
        with self._lock:
            if self._balance is not None:
                if self._balance < len(request.phones):
                    return (
                        checks.CODE_NO_SMS_LEFT,
                        checks.TECH_MESSAGES[checks.CODE_NO_SMS_LEFT],
                        [],
                    )
                self._balance -= len(request.phones)
            now = time.monotonic()
            msg_ids = (
                [(phone, str(uuid.uuid4())) for phone in request.phones] if request.dlr else []
            )
            for index, phone in enumerate(request.phones):
                self._messages.append(
                    SentMessage(
                        msg_id=msg_ids[index][1] if msg_ids else None,
                        phone=phone,
                        p_transaction_id=request.p_transaction_id,
                        sending_method=request.sending_method,
                        accepted_at=now,
                    )
                )
            url, method = self.callback_url, self.report_method.upper()
            groups: dict[int, tuple[Scenario, list[tuple[str, str, str | None]]]] = {}
            for phone, msg_id in msg_ids:
                scenario = self._overrides.get(phone, self.scenario)
                group = groups.setdefault(id(scenario), (scenario, []))
                group[1].append((request.sending_method, msg_id, request.p_transaction_id))
            shuffles = [random.Random(self._rng.getrandbits(64)) for _ in groups]
        if url:
            for (scenario, recipients), rng in zip(groups.values(), shuffles, strict=True):
                reports = plan(scenario, recipients, rng)
                self._reports.schedule(url, method, reports, scenario.delay)
        return checks.CODE_OK, checks.TECH_MESSAGES[checks.CODE_OK], msg_ids

    def _process_upload(
        self, ctype: str, parts: list[Part], parts_error: str | None
    ) -> tuple[int, bytes]:
        """Section F; a fresh image_id for every accepted upload."""
        if ctype != MULTIPART_TYPE or parts_error is not None:
            what = "multipart body" if ctype == MULTIPART_TYPE else "content type"
            error = f"incorrect data ({what})"
            return checks.UPLOAD_INCORRECT_DATA, _upload_json(checks.UPLOAD_INCORRECT_DATA, error)
        verdict = checks.check_upload(parts, self.accounts)
        if verdict.status != checks.UPLOAD_OK:
            return verdict.status, _upload_json(verdict.status, verdict.error)
        with self._lock:
            while True:
                image_id = "".join(
                    secrets.choice(checks.IMAGE_ID_ALPHABET) for _ in range(checks.IMAGE_ID_LENGTH)
                )
                if image_id not in self._image_ids:
                    break
            self._image_ids.add(image_id)
        return checks.UPLOAD_OK, _upload_json(checks.UPLOAD_OK, image_id=image_id)
