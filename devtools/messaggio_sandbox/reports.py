"""Delivery reports (docs/protocol.md section E): what the platform calls back, and how.

Reports are one per HTTP call, by GET (query string) or POST (form). Viber sends get extended
reports (``type=delivery|seen|reply``), SMS sends standard ones (``status`` as a number). Any
answer but 200, 400 or 404, or a network error, is retried: the platform does so for 24 hours
with 5-30 minute gaps; the sandbox uses test-scale gaps. Reports may therefore repeat and
arrive in any order, which scenarios can also provoke on purpose.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import requests

# --- Section E --------------------------------------------------------------------------------

FINAL_ANSWERS = frozenset({200, 400, 404})  # [prev faq] only these stop the retries
STANDARD_STATUS: Mapping[str, str] = {  # SMS: the standard report's numeric status
    "delivered": "0",
    "undelivered": "-1",
    "expired": "-2",
    "rejected": "-3",
}
STATUS_EXTENDED = (
    "VIBER_BLOCKED_BY_USER",
    "VIBER_USER_NOT_FOUND",
    "VIBER_NO_DEVICE",
    "VIBER_EXPIRED",
    "VIBER_UNKNOWN_ERROR",
)
STEP_NAMES = ("delivered", "undelivered", "buffered", "seen", "reply", "expired", "rejected")
SCENARIO_NAMES = ("delivered", "seen", "reply", "undelivered", "fallback", "buffered", "none")

Step = str | Mapping[str, str]


@dataclass
class Scenario:
    """What happens to each recipient after an accepted send with ``dlr=1``.

    ``steps`` are step names (``STEP_NAMES``) or hand-made report dicts (sent as given, with
    ``msg_id`` and ``p_transaction_id`` added). ``duplicates`` sends every report twice,
    ``shuffle`` sends a send's reports in a seeded random order, ``delay`` waits that many
    seconds before each report.
    """

    steps: list[Step] = field(default_factory=lambda: ["delivered"])
    duplicates: bool = False
    shuffle: bool = False
    delay: float = 0.0
    reply_text: str = "Thanks"
    status_extended: str | None = None

    @classmethod
    def delivered(cls) -> Scenario:
        return cls(["delivered"])

    @classmethod
    def undelivered(cls, status_extended: str | None = "VIBER_USER_NOT_FOUND") -> Scenario:
        return cls(["undelivered"], status_extended=status_extended)

    @classmethod
    def buffered_then_delivered(cls) -> Scenario:
        return cls(["buffered", "delivered"])

    @classmethod
    def seen(cls) -> Scenario:
        return cls(["delivered", "seen"])

    @classmethod
    def reply(cls, text: str = "Thanks") -> Scenario:
        return cls(["delivered", "seen", "reply"], reply_text=text)

    @classmethod
    def fallback(cls, status_extended: str = "VIBER_USER_NOT_FOUND") -> Scenario:
        """Viber fails, then the SMS fallback delivers (a failure followed by delivered)."""
        return cls(["undelivered", "delivered"], status_extended=status_extended)

    @classmethod
    def expired(cls) -> Scenario:
        return cls(["expired"])

    @classmethod
    def rejected(cls) -> Scenario:
        return cls(["rejected"])

    @classmethod
    def none(cls) -> Scenario:
        return cls([])

    @classmethod
    def named(cls, name: str) -> Scenario:
        """The scenario the CLI's ``--scenario`` names."""
        factories: dict[str, Callable[[], Scenario]] = {
            "delivered": cls.delivered,
            "seen": cls.seen,
            "reply": cls.reply,
            "undelivered": cls.undelivered,
            "fallback": cls.fallback,
            "buffered": cls.buffered_then_delivered,
            "none": cls.none,
        }
        if name not in factories:
            raise ValueError(f"unknown scenario {name!r}; one of {SCENARIO_NAMES}")
        return factories[name]()

    def reports(
        self, sending_method: str, msg_id: str, p_transaction_id: str | None
    ) -> list[dict[str, str]]:
        """This recipient's reports, in scenario order (before duplicates and shuffle)."""
        ids = {"msg_id": msg_id}
        if p_transaction_id is not None:
            ids["p_transaction_id"] = p_transaction_id
        out: list[dict[str, str]] = []
        for step in self.steps:
            report = self._viber_step(step) if sending_method == "viber" else self._sms_step(step)
            if report is not None:
                out.append({**ids, **report})
        return out

    def _viber_step(self, step: Step) -> dict[str, str] | None:
        if not isinstance(step, str):
            return dict(step)
        match step:
            case "delivered" | "buffered":
                return {"type": "delivery", "status": step}
            case "undelivered" | "expired" | "rejected":
                report = {"type": "delivery", "status": "undelivered"}
                extended = "VIBER_EXPIRED" if step == "expired" else self.status_extended
                if extended is not None:
                    report["status_extended"] = extended
                return report
            case "seen":
                return {"type": "seen"}
            case "reply":
                return {"type": "reply", "text": self.reply_text}
        raise ValueError(f"unknown step {step!r}; one of {STEP_NAMES}")

    def _sms_step(self, step: Step) -> dict[str, str] | None:
        """Standard reports have no type; SMS has nothing like buffered, seen or reply."""
        if not isinstance(step, str):
            report = dict(step)
            if "type" not in report:
                return report
            if report.get("type") != "delivery":
                return None
            step = report.get("status", "")
        if step in STANDARD_STATUS:
            return {"status": STANDARD_STATUS[step]}
        if step in STEP_NAMES:
            return None
        raise ValueError(f"unknown step {step!r}; one of {STEP_NAMES}")


@dataclass(frozen=True)
class ReportAttempt:
    """One HTTP call to the callback URL: ``status`` is the answer, or ``error`` why none."""

    url: str
    method: str
    params: dict[str, str]
    status: int | None
    error: str | None
    at: float
    attempt: int
    final: bool

    @property
    def delivered(self) -> bool:
        """The receiver answered with a status that stops the platform."""
        return self.status in FINAL_ANSWERS


@dataclass
class _Job:
    url: str
    method: str
    reports: list[dict[str, str]]
    delay: float
    generation: int


class ReportDispatcher:
    """Sends scheduled reports from background threads (one per send), with retries."""

    def __init__(
        self,
        retry_gaps: Sequence[float],
        timeout: float,
        stopping: threading.Event,
    ) -> None:
        self.retry_gaps = tuple(retry_gaps)
        self.timeout = timeout
        self._stopping = stopping
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._pending = 0
        self._generation = 0
        self._log: list[ReportAttempt] = []

    @property
    def log(self) -> list[ReportAttempt]:
        with self._lock:
            return list(self._log)

    def clear(self) -> None:
        """Forget the log and abandon reports not yet sent."""
        with self._lock:
            self._log.clear()
            self._generation += 1

    def schedule(self, url: str, method: str, reports: list[dict[str, str]], delay: float) -> None:
        """Count the reports as pending now (so ``wait`` sees them), send them in a thread."""
        if not reports:
            return
        with self._lock:
            self._pending += len(reports)
            job = _Job(url, method, reports, delay, self._generation)
        threading.Thread(target=self._run, args=(job,), name="sandbox-reports", daemon=True).start()

    def wait(self, timeout: float) -> bool:
        """Block until nothing is pending; False if ``timeout`` passed first."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._pending:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(left)
            return True

    def send_one(
        self, url: str, method: str, params: dict[str, str], attempt: int = 1
    ) -> ReportAttempt:
        """One HTTP call, logged; never raises for network errors."""
        status: int | None = None
        error: str | None = None
        try:
            if method == "GET":
                response = requests.get(url, params=params, timeout=self.timeout)
            else:
                response = requests.post(url, data=params, timeout=self.timeout)
            status = response.status_code
            response.close()
        except requests.RequestException as exc:
            error = f"{type(exc).__name__}: {exc}"
        final = status in FINAL_ANSWERS or attempt > len(self.retry_gaps)
        record = ReportAttempt(
            url, method, dict(params), status, error, time.monotonic(), attempt, final
        )
        with self._lock:
            self._log.append(record)
        return record

    def _run(self, job: _Job) -> None:
        remaining = len(job.reports)
        try:
            for report in job.reports:
                if job.delay and self._stopping.wait(job.delay):
                    return
                self._deliver(job, report)
                remaining -= 1
                self._done(1)
        finally:
            self._done(remaining)

    def _deliver(self, job: _Job, report: dict[str, str]) -> None:
        for attempt in range(1, len(self.retry_gaps) + 2):
            if self._stopping.is_set() or self._abandoned(job):
                return
            result = self.send_one(job.url, job.method, report, attempt)
            if result.final:
                return
            if self._stopping.wait(self.retry_gaps[attempt - 1]):
                return

    def _abandoned(self, job: _Job) -> bool:
        with self._lock:
            return job.generation != self._generation

    def _done(self, count: int) -> None:
        if not count:
            return
        with self._idle:
            self._pending -= count
            if self._pending <= 0:
                self._pending = 0
                self._idle.notify_all()


def plan(
    scenario: Scenario,
    recipients: Sequence[tuple[str, str, str | None]],
    rng: random.Random,
) -> list[dict[str, str]]:
    """The reports for recipients sharing ``scenario``: (sending_method, msg_id,
    p_transaction_id) each, in recipient and step order, then duplicated and shuffled."""
    reports: list[dict[str, str]] = []
    for sending_method, msg_id, p_transaction_id in recipients:
        for report in scenario.reports(sending_method, msg_id, p_transaction_id):
            reports.extend([report, dict(report)] if scenario.duplicates else [report])
    if scenario.shuffle:
        rng.shuffle(reports)
    return reports
