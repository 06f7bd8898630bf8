"""The sandbox platform: a loopback HTTP server that answers as the platform does.

``SandboxPlatform`` wires the surfaces together: ``send`` (docs/protocol.md sections A-D) and
``media`` (F) judge requests by the rules in ``checks``, ``reports`` sends the delivery reports
(E), ``faults`` misbehaves on demand; ``serving`` carries the HTTP. Every request is recorded
byte for byte, so the connector can be tested against a real socket.
"""

from __future__ import annotations

import bisect
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Literal

from werkzeug.wrappers import Request, Response

from . import media, send
from .faults import Fault, FaultPlan
from .media import MediaSurface
from .reports import ReportAttempt, ReportDispatcher, Scenario
from .send import SendSurface, SentMessage
from .serving import RAW_HEADERS, Drop, LoopbackServer, loopback
from .wire import TEXT_TYPE, Answer, request_params

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIEnvironment

__all__ = ["RecordedRequest", "SandboxPlatform", "SentMessage"]

log = logging.getLogger("messaggio_sandbox")

RequestKind = Literal["send", "upload", "other"]
ROUTES: Mapping[str, RequestKind] = {
    "/send": "send",
    "/send/": "send",
    "/upload/": "upload",
    "/upload": "upload",
}


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
            self._bind_host, self._family, self._url_host = loopback(host)
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
        self.latency = latency
        self._initial_scenario = scenario if scenario is not None else Scenario.delivered()
        self.scenario: Scenario = self._initial_scenario
        self._lock = threading.Lock()
        self._records: list[RecordedRequest] = []
        self._faults = FaultPlan()
        self._stopping = threading.Event()
        self._reports = ReportDispatcher(report_retry_gaps, report_timeout, self._stopping)
        self._send = SendSurface(self, balance, seed, self._reports)
        self._media = MediaSurface(self)
        self._server: LoopbackServer | None = None

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> SandboxPlatform:
        """Bind and serve in a background thread."""
        if self._server is not None or self._stopping.is_set():
            raise RuntimeError("a sandbox starts once")
        address = (self._bind_host, self._port)
        self._server = LoopbackServer(address, self._family, self._app, self._stopping, self.peers)
        self._server.start()
        log.info("sandbox platform at %s", self.url)
        return self

    def stop(self) -> None:
        """Stop serving, cut open connections, abandon reports not yet sent."""
        already = self._stopping.is_set()
        self._stopping.set()
        if self._server is not None and not already:
            self._server.stop()

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
        return self._send.balance

    @balance.setter
    def balance(self, value: int | None) -> None:
        self._send.balance = value

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
        self._media.know(image_id)

    @property
    def image_ids(self) -> set[str]:
        """Every image_id issued (a copy)."""
        return self._media.image_ids

    @property
    def messages(self) -> list[SentMessage]:
        """One entry per recipient of every accepted send, in acceptance order."""
        return self._send.messages

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
            self.scenario = self._initial_scenario
        self._send.reset()
        self._faults.clear()
        self._reports.clear()

    # --- scenarios and reports -------------------------------------------------------------

    def scenario_for(self, phone: str, scenario: Scenario | None) -> None:
        """Use ``scenario`` for this phone's reports (None: back to the default)."""
        self._send.scenario_for(phone, scenario)

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

    def _app(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        """The WSGI app: decide the answer to one request, record it, answer or misbehave."""
        received_at = time.monotonic()
        request = Request(environ)
        path = environ["RAW_URI"].partition("?")[0]
        kind = ROUTES.get(path, "other")
        fault = self._faults.next_for(kind)
        self._sleep(self.latency)
        if fault is not None and fault.kind == "latency":
            self._sleep(fault.seconds)
        params, parts, parts_error = request_params(request)
        if fault is not None and not fault.processes:
            answer = _fault_answer(fault, kind)
        elif kind == "send":
            answer = self._send.handle(request.method, params)
        elif kind == "upload":
            answer = self._media.handle(request.method, request.mimetype, parts, parts_error)
        else:
            answer = Answer(Response(b"not found", 404, content_type=TEXT_TYPE))
        withheld = fault is not None and fault.kind in ("hang", "drop")
        record = RecordedRequest(
            kind=kind,
            method=request.method,
            path=path,
            headers=environ[RAW_HEADERS],
            body=request.get_data(),
            params=params,
            received_at=received_at,
            status=None if withheld else answer.response.status_code,
            answer=b"" if withheld else answer.response.get_data(),
            accepted=answer.accepted,
            code=answer.code,
            msg_ids=dict(answer.msg_ids),
            fault=fault.describe() if fault is not None else None,
        )
        with self._lock:
            bisect.insort(self._records, record, key=lambda r: r.received_at)
        if fault is not None and fault.kind == "drop":
            raise Drop
        if fault is not None and fault.kind == "hang":
            self._sleep(fault.seconds)
            answer.response.headers["Connection"] = "close"
        return answer.response(environ, start_response)


def _fault_answer(fault: Fault, kind: str) -> Answer:
    """The answer of a fault that stops the platform from processing the request."""
    if fault.kind == "code":
        make = media.answer if kind == "upload" else send.answer
        return Answer(make(fault.platform_code, fault.tech_message), code=fault.platform_code)
    if fault.kind == "http":
        return Answer(Response(fault.http_body, fault.http_status, content_type=TEXT_TYPE))
    return Answer(Response(b"", 500))  # a drop: never sent
