"""The template's functions run as Lambda runs them: each in processes of its own.

A process sees only its function's environment (the template's Globals and the function's own
section, plus what Lambda itself sets), so a setting missing from one function's section fails
here as it would in AWS; its log lines and metrics are its own. One event at a time per
process; overlapping calls get another process, as Lambda scales out.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from messaggio_local.template import REGION, ROOT, function_arn

MEMORY = 512
MOST_PROCESSES = 8  # per function: calls beyond this wait for a free process

# (function's logical id, one line of its stdout or stderr)
type LogSink = Callable[[str, str], None]


class InvocationError(Exception):
    """The handler raised, timed out or its process died: Lambda's invocation error."""


class TimedOut(InvocationError):
    """The function ran past its timeout."""


@dataclass
class SqsSource:
    queue_arn: str
    batch_size: int
    report_failures: bool


@dataclass
class DynamoDBSource:
    """A DynamoDB stream event source (messaggio_local.streams does the mapping's work)."""

    stream_arn: str
    batch_size: int
    max_retries: int
    bisect: bool
    report_failures: bool
    on_failure: str | None  # an SQS queue's ARN


@dataclass
class Route:
    method: str
    path: str  # "/callbacks/{token}"
    pattern: Any  # re.Pattern[str]


@dataclass
class Function:
    logical_id: str
    code_uri: Path
    handler: str
    environment: dict[str, str]
    timeout: int
    memory: int = MEMORY
    sqs: list[SqsSource] = field(default_factory=list)
    streams: list[DynamoDBSource] = field(default_factory=list)
    routes: list[Route] = field(default_factory=list)

    @property
    def arn(self) -> str:
        return function_arn(self.logical_id)

    def process_environment(self, credentials: dict[str, str]) -> dict[str, str]:
        """What Lambda sets, then the function's own variables; nothing of this process's."""
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "PYTHONPATH": str(Path(__file__).resolve().parents[1]),  # the runtime only
            "PYTHONUNBUFFERED": "1",
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_LAMBDA_FUNCTION_NAME": self.logical_id,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(self.memory),
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "LAMBDA_TASK_ROOT": str(self.code_uri),
            "_HANDLER": self.handler,
            # Lambda runs the X-Ray daemon; here there is none to send traces to.
            "POWERTOOLS_TRACE_DISABLED": "true",
            **credentials,
        }
        env.update(self.environment)
        return env


class _Worker:
    """One process of a function: one invocation at a time."""

    def __init__(self, function: Function, env: dict[str, str], sink: LogSink) -> None:
        self.function = function
        read, write = os.pipe()
        layer = str(ROOT / "layers" / "shared")
        self.process = subprocess.Popen(  # noqa: S603 (our own interpreter and module)
            [
                sys.executable,
                "-m",
                "messaggio_local.runtime",
                str(write),
                function.handler,
                function.logical_id,
                str(function.timeout),
                str(function.memory),
                function.arn,
                str(function.code_uri),
                layer,
            ],
            env=env,
            cwd=function.code_uri,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            pass_fds=(write,),
            text=True,
            # Its own session: a Ctrl-C in the terminal stops the stack, which stops this.
            start_new_session=True,
        )
        os.close(write)
        self._answers: IO[str] = os.fdopen(read, "r")
        assert self.process.stdout is not None
        threading.Thread(
            target=_pump, args=(self.process.stdout, function.logical_id, sink), daemon=True
        ).start()

    def invoke(self, event: dict[str, Any]) -> Any:
        assert self.process.stdin is not None
        try:
            self.process.stdin.write(json.dumps(event) + "\n")
            self.process.stdin.flush()
        except OSError as exc:
            raise InvocationError(f"{self.function.logical_id}: process ended") from exc
        # The function's timeout, plus its start-up on a first call.
        ready, _, _ = select.select([self._answers], [], [], self.function.timeout + 30)
        line = self._answers.readline() if ready else ""
        if not ready:
            raise TimedOut(f"{self.function.logical_id}: Task timed out")
        if not line:
            raise InvocationError(f"{self.function.logical_id}: process ended")
        answer = json.loads(line)
        if "error" in answer:
            error = answer["error"]
            raise InvocationError(f"{error['errorType']}: {error['errorMessage']}")
        return answer["result"]

    def end(self) -> None:
        """Closes its stdin: the process exits after the event it is handling, if any."""
        with contextlib.suppress(OSError):
            if self.process.stdin is not None:
                self.process.stdin.close()

    def reap(self, deadline: float) -> None:
        try:
            self.process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=3)
        self._answers.close()


def _pump(stream: IO[str], name: str, sink: LogSink) -> None:
    for line in stream:
        sink(name, attributed(name, line.rstrip("\n")))


def attributed(function: str, line: str) -> str:
    """A function's output line, saying which function wrote it: in AWS each function has its
    own log group; here every function writes to one file. JSON lines (Powertools' log lines
    and metric records) get `function_name` if they lack it, other lines a prefix."""
    try:
        entry = json.loads(line)
    except ValueError:
        entry = None
    if not isinstance(entry, dict):
        return f"[{function}] {line}"
    if "function_name" in entry:
        return line
    return json.dumps({"function_name": function, **entry}, ensure_ascii=False)


class Functions:
    """Every function's processes; `invoke` is Lambda's synchronous Invoke."""

    def __init__(self, credentials: dict[str, str], sink: LogSink) -> None:
        self._credentials = credentials
        self._sink = sink
        self._idle: dict[str, list[_Worker]] = {}
        self._busy: dict[str, set[_Worker]] = {}
        self._slots: dict[str, threading.Semaphore] = {}
        self._lock = threading.Lock()
        self._stopped = False
        self._ending: list[_Worker] = []

    def add(self, function: Function, warm: bool = True) -> None:
        self._idle[function.logical_id] = []
        self._busy[function.logical_id] = set()
        self._slots[function.logical_id] = threading.Semaphore(MOST_PROCESSES)
        if warm:  # its init runs now, in the background, not on the first event
            self._idle[function.logical_id].append(self._start(function))

    def _start(self, function: Function) -> _Worker:
        return _Worker(function, function.process_environment(self._credentials), self._sink)

    def invoke(self, function: Function, event: dict[str, Any]) -> Any:
        name = function.logical_id
        with self._slots[name]:
            with self._lock:
                if self._stopped:
                    raise InvocationError("the local stack is stopping")
                idle = self._idle[name]
                worker = idle.pop() if idle else None
            if worker is None or worker.process.poll() is not None:
                worker = self._start(function)
            with self._lock:
                self._busy[name].add(worker)
            try:
                answer = worker.invoke(event)
            except TimedOut:
                worker.process.kill()  # as Lambda ends a timed-out invocation's sandbox
                raise
            finally:
                with self._lock:
                    self._busy[name].discard(worker)
                    if worker.process.poll() is None and not self._stopped:
                        self._idle[name].append(worker)
            return answer

    def end(self) -> None:
        """Tells every process to end (after the event it is handling); takes no event more."""
        with self._lock:
            self._stopped = True
            self._ending = [w for ws in self._idle.values() for w in ws]
            self._ending += [w for ws in self._busy.values() for w in ws]
            for ws in self._idle.values():
                ws.clear()
        for worker in self._ending:
            worker.end()

    def reap(self, within: float = 3.0) -> None:
        """Waits for the processes `end` told, killing those still running after `within`."""
        deadline = time.monotonic() + within
        for worker in self._ending:
            worker.reap(deadline)
        self._ending = []

    def stop(self) -> None:
        self.end()
        self.reap()
