"""The send surface (docs/protocol.md sections A-D): judge a send by ``checks``, charge the
balance, issue msg_ids and schedule the delivery reports (``reports``)."""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING
from xml.sax.saxutils import escape, quoteattr

from werkzeug.wrappers import Response

from . import checks
from .reports import ReportDispatcher, Scenario, plan
from .wire import TEXT_TYPE, Answer, Params

if TYPE_CHECKING:
    from .server import SandboxPlatform

XML_TYPE = "text/xml; charset=utf-8"


@dataclass(frozen=True)
class SentMessage:
    """One recipient of an accepted send: what reports are joined on."""

    msg_id: str | None
    phone: str
    p_transaction_id: str | None
    sending_method: str
    accepted_at: float


def answer(code: int, tech_message: str, msg_ids: Sequence[tuple[str, str]] = ()) -> Response:
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
    return Response("".join(parts).encode("utf-8"), content_type=XML_TYPE)


class SendSurface:
    """The account's balance, the accepted messages and per-phone scenarios, thread-safe.

    The platform's settings (accounts, default scenario, callback URL and method) are read
    from ``platform`` at each send, so changing them there takes effect at once.
    """

    def __init__(
        self,
        platform: SandboxPlatform,
        balance: int | None,
        seed: int,
        reports: ReportDispatcher,
    ) -> None:
        self._platform = platform
        self._reports = reports
        self._lock = threading.Lock()
        self._balance = balance
        self._messages: list[SentMessage] = []
        self._overrides: dict[str, Scenario] = {}
        self._rng = random.Random(seed)

    @property
    def balance(self) -> int | None:
        with self._lock:
            return self._balance

    @balance.setter
    def balance(self, value: int | None) -> None:
        with self._lock:
            self._balance = value

    @property
    def messages(self) -> list[SentMessage]:
        with self._lock:
            return list(self._messages)

    def scenario_for(self, phone: str, scenario: Scenario | None) -> None:
        with self._lock:
            if scenario is None:
                self._overrides.pop(phone, None)
            else:
                self._overrides[phone] = scenario

    def reset(self) -> None:
        """Forget messages and per-phone scenarios; the balance stays."""
        with self._lock:
            self._messages.clear()
            self._overrides.clear()

    def handle(self, method: str, params: Params) -> Answer:
        if method not in ("GET", "POST"):
            return Answer(Response(b"GET or POST", 405, content_type=TEXT_TYPE))
        code, tech_message, msg_ids = self._process(params)
        return Answer(
            answer(code, tech_message, msg_ids),
            code=code,
            accepted=code == checks.CODE_OK,
            msg_ids=dict(msg_ids),
        )

    def _process(self, params: Params) -> tuple[int, str, list[tuple[str, str]]]:
        """Sections A-D, then the balance, then the bookkeeping reports need."""
        platform = self._platform
        verdict = checks.check_send(params, platform.accounts, platform.image_ids)
        request = verdict.request
        if request is None:
            return verdict.code, verdict.tech_message, []
        with self._lock:
            if self._balance is not None:
                if self._balance < len(request.phones):
                    no_sms_left = checks.CODE_NO_SMS_LEFT
                    return no_sms_left, checks.TECH_MESSAGES[no_sms_left], []
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
            url, method = platform.callback_url, platform.report_method.upper()
            groups: dict[int, tuple[Scenario, list[tuple[str, str, str | None]]]] = {}
            for phone, msg_id in msg_ids:
                scenario = self._overrides.get(phone, platform.scenario)
                group = groups.setdefault(id(scenario), (scenario, []))
                group[1].append((request.sending_method, msg_id, request.p_transaction_id))
            shuffles = [random.Random(self._rng.getrandbits(64)) for _ in groups]
        if url:
            for (scenario, recipients), rng in zip(groups.values(), shuffles, strict=True):
                self._reports.schedule(url, method, plan(scenario, recipients, rng), scenario.delay)
        return checks.CODE_OK, checks.TECH_MESSAGES[checks.CODE_OK], msg_ids
