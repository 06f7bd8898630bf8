"""One function's process, as Lambda runs it: `python -m messaggio_local.runtime FD HANDLER
NAME TIMEOUT MEMORY ARN CODE LAYER`.

The local stack starts one per concurrent invocation of a function, with that function's own
environment only (lambdas.py). Events arrive one JSON line at a time on stdin; each answer is
one JSON line on the file descriptor FD; stdout and stderr are the function's log. Stdin
closing ends the process.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
import traceback
import uuid
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class LambdaContext:
    """The Lambda context the handlers read. `remaining_ms`, when set, is what
    get_remaining_time_in_millis answers whatever the time (a test's fixed deadline)."""

    function_name: str
    timeout: float
    invoked_function_arn: str
    memory_limit_in_mb: int = 512
    started: float = field(default_factory=time.monotonic)
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    remaining_ms: int | None = None

    def get_remaining_time_in_millis(self) -> int:
        if self.remaining_ms is not None:
            return self.remaining_ms
        return max(0, int((self.timeout - (time.monotonic() - self.started)) * 1000))


def main(argv: list[str]) -> int:
    fd, handler, name, timeout, memory, arn, *paths = argv
    # Only the function's code and the layer, as /var/task and /opt/python in Lambda: the
    # development tools that started this process are not importable by the handler.
    tools = str(Path(__file__).resolve().parents[1])
    sys.path[:] = paths + [p for p in sys.path if p and Path(p).resolve() != Path(tools)]
    module, _, attr = handler.rpartition(".")
    entry = getattr(importlib.import_module(module), attr)
    answers = os.fdopen(int(fd), "w", buffering=1)
    for line in sys.stdin:
        event = json.loads(line)
        context = LambdaContext(name, float(timeout), arn, int(memory))
        try:
            answer = {"result": entry(event, context)}
        except Exception as exc:  # an invocation error, reported as Lambda reports it
            traceback.print_exc()
            answer = {"error": {"errorType": type(exc).__name__, "errorMessage": str(exc)}}
        sys.stdout.flush()
        sys.stderr.flush()
        answers.write(json.dumps(answer, default=str) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
