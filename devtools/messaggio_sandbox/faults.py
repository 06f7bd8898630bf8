"""Faults on demand: the ways the platform (or the network to it) misbehaves.

They exist so the connector's handling of each failure can be tested against a real socket:
an error code, an HTTP error, a slow answer, an answer that never comes although the platform
did take the message (the outcome-unknown case of docs/protocol.md section D), a dropped
connection.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Literal

from .checks import TECH_MESSAGES, UPLOAD_ERRORS

FaultKind = Literal["code", "http", "latency", "hang", "drop"]
RequestKind = Literal["send", "upload", "other", "any"]
REQUEST_KINDS = ("send", "upload", "other", "any")


@dataclass(frozen=True)
class Fault:
    """One misbehaviour. Build with the constructors (``Fault.code(-4)``, ``Fault.hang(2)``...).

    ``processes`` says whether the platform takes the request before misbehaving: a hang or a
    drop after processing means the message was accepted although the client never hears so.
    """

    kind: FaultKind
    platform_code: int = 0
    tech_message: str = ""
    http_status: int = 0
    http_body: bytes = b""
    seconds: float = 0.0
    processes: bool = False

    @classmethod
    def code(cls, code: int, message: str | None = None) -> Fault:
        """Answer this platform code (send XML, or upload JSON status) instead of processing."""
        default = TECH_MESSAGES.get(code) or UPLOAD_ERRORS.get(code) or "ERROR"
        return cls("code", platform_code=code, tech_message=message or default)

    @classmethod
    def upload_status(cls, status: int, error: str | None = None) -> Fault:
        """Answer this upload status (section F JSON) instead of processing."""
        return cls(
            "code", platform_code=status, tech_message=error or UPLOAD_ERRORS.get(status, "error")
        )

    @classmethod
    def http(cls, status: int, body: bytes | None = None) -> Fault:
        """Answer this HTTP status with a short plain-text body, without processing."""
        if not 100 <= status <= 599:
            raise ValueError(f"not an HTTP status: {status}")
        if body is None:
            try:
                body = HTTPStatus(status).phrase.encode("ascii")
            except ValueError:
                body = b"error"
        return cls("http", http_status=status, http_body=body)

    @classmethod
    def latency(cls, seconds: float) -> Fault:
        """Wait ``seconds``, then process and answer normally."""
        return cls("latency", seconds=seconds, processes=True)

    @classmethod
    def hang(cls, seconds: float) -> Fault:
        """Process the request as accepted, then wait ``seconds`` before answering."""
        return cls("hang", seconds=seconds, processes=True)

    @classmethod
    def drop(cls, process: bool = True) -> Fault:
        """Close the connection without an answer; by default after processing (accepted)."""
        return cls("drop", processes=process)

    @classmethod
    def refuse_processing_drop(cls) -> Fault:
        """Close the connection without an answer and without processing the request."""
        return cls.drop(process=False)

    def describe(self) -> str:
        """A short label for records and logs."""
        match self.kind:
            case "code":
                return f"code({self.platform_code})"
            case "http":
                return f"http({self.http_status})"
            case "latency" | "hang":
                return f"{self.kind}({self.seconds:g})"
            case _:
                return "drop" if self.processes else "drop(unprocessed)"


class FaultPlan:
    """Queued faults (FIFO, each for a number of requests) and random drills, thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: list[tuple[Fault, int, str]] = []
        self._random: dict[str, tuple[list[tuple[Fault, float]], random.Random]] = {}

    def inject(self, fault: Fault, times: int, kind: str) -> None:
        """Queue ``fault`` for the next ``times`` requests of ``kind``."""
        if kind not in REQUEST_KINDS:
            raise ValueError(f"kind must be one of {REQUEST_KINDS}")
        if times < 1:
            raise ValueError("times must be at least 1")
        with self._lock:
            self._queue.append((fault, times, kind))

    def set_random(self, odds: Mapping[Fault, float] | None, seed: int | None, kind: str) -> None:
        """Give each request of ``kind`` these independent-of-the-queue odds of a fault."""
        if kind not in REQUEST_KINDS:
            raise ValueError(f"kind must be one of {REQUEST_KINDS}")
        items = list((odds or {}).items())
        if any(p < 0 for _, p in items) or sum(p for _, p in items) > 1.0 + 1e-9:
            raise ValueError("probabilities must be non-negative and sum to at most 1")
        with self._lock:
            if items:
                self._random[kind] = (items, random.Random(seed))
            else:
                self._random.pop(kind, None)

    def next_for(self, kind: str) -> Fault | None:
        """The fault for the request arriving now, consuming it from the queue."""
        with self._lock:
            for index, (fault, times, wanted) in enumerate(self._queue):
                if wanted in (kind, "any"):
                    if times <= 1:
                        del self._queue[index]
                    else:
                        self._queue[index] = (fault, times - 1, wanted)
                    return fault
            for key in (kind, "any"):
                if key in self._random:
                    items, rng = self._random[key]
                    roll = rng.random()
                    for fault, probability in items:
                        if roll < probability:
                            return fault
                        roll -= probability
        return None

    def clear(self) -> None:
        """Forget every queued fault and drill."""
        with self._lock:
            self._queue.clear()
            self._random.clear()
