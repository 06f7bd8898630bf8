"""One structured ERROR line for each SQS record that failed for an unexpected reason.

The sender and the media function hand a record back to SQS in two ways: an expected,
retryable outcome (`RetryLater`: the platform busy, HTTP 5xx/429, network, an account
problem), which the handler has already logged and counted; or an exception nobody expected
(a bug, a store that refused a call, credentials that cannot be read). Powertools' batch
processor turns the second kind into a silent retry, so it would reach the dead-letter queue
with no reason; here each one logs once, at ERROR, with the record's `messageId`, what is
known of it (its `p_transaction_id` or object), the exception's type and a stack trace.

Privacy: exception messages can quote input (a `KeyError` quotes its key, a `ValueError`
often its value), so the trace keeps the message only of exceptions whose words are ours or
AWS's, and even then without digit runs; every other message is withheld.
"""

from __future__ import annotations

import re
import traceback
from typing import Any, Final

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import AsyncBatchProcessor, BatchProcessor, EventType
from aws_lambda_powertools.utilities.batch.base import (
    BasePartialBatchProcessor,
    FailureResponse,
)
from aws_lambda_powertools.utilities.batch.exceptions import ExceptionInfo
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from botocore.exceptions import BotoCoreError, ClientError

from messaggio_core.dal.common import StorageError
from messaggio_core.dal.secrets import CredentialsUnavailable

# A log line stays well under 16 KB: the trace keeps its end (where it was raised).
TRACE_MAX: Final = 8_000
MESSAGE_MAX: Final = 300
_DIGITS: Final = re.compile(r"\d{7,}")
# Exceptions whose messages are AWS's words, ours, or about code rather than data.
_SAFE_MESSAGES: Final = (
    ClientError,
    BotoCoreError,
    StorageError,
    CredentialsUnavailable,
    AttributeError,
    NameError,
    ImportError,
    RecursionError,
    MemoryError,
    TimeoutError,
)


class RetryLater(Exception):
    """An expected, retryable outcome, already logged: SQS hands the record out again."""


class RecordFailed(Exception):
    """An unexpected exception while handling one record, raised `from` it with the ids
    known at the time (a p_transaction_id, an object), never a phone number or a text."""

    def __init__(self, **keys: str) -> None:
        super().__init__(", ".join(f"{name}={value}" for name, value in keys.items()))
        self.keys = keys


def safe_trace(exc: BaseException) -> str:
    """The exception's stack and its causes, in Python's order (the root cause first, the
    exception itself last), with unsafe messages withheld."""
    parts: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        frames = "".join(traceback.format_tb(current.__traceback__))
        parts.append(f"{frames}{type(current).__qualname__}: {safe_message(current)}")
        current = current.__cause__ or (
            None if current.__suppress_context__ else current.__context__
        )
    trace = "\nThe above exception was the direct cause of the following exception:\n".join(
        reversed(parts)
    )
    return trace if len(trace) <= TRACE_MAX else "…" + trace[-TRACE_MAX:]


def safe_message(exc: BaseException) -> str:
    if not isinstance(exc, _SAFE_MESSAGES):
        return "<message withheld: it may quote input>"
    text = _DIGITS.sub("<digits>", str(exc))
    return text if len(text) <= MESSAGE_MAX else text[:MESSAGE_MAX] + "…"


def failure_fields(message_id: str | None, exc: BaseException) -> dict[str, Any]:
    """The ERROR line's keys: Powertools' own `exception`/`exception_name`, made safe."""
    keys: dict[str, str] = {}
    cause: BaseException = exc
    if isinstance(exc, RecordFailed):
        keys = exc.keys
        cause = exc.__cause__ or exc
    return {
        "message_id": message_id,
        **keys,
        "exception_name": type(cause).__name__,
        "exception": safe_trace(cause),
    }


def log_failure(logger: Logger, record: SQSRecord | None, exception: ExceptionInfo) -> None:
    """The one line for a record handed back for a reason nobody expected."""
    exc = exception[1]
    if exc is None or isinstance(exc, RetryLater):
        return
    message_id = record.message_id if isinstance(record, SQSRecord) else None
    logger.error("record failed", extra=failure_fields(message_id, exc))


class _Logged(BasePartialBatchProcessor):
    """Powertools' processor for SQS, plus one ERROR line per unexpectedly failed record."""

    def __init__(self, logger: Logger) -> None:
        super().__init__(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
        self._log = logger

    def failure_handler(self, record: Any, exception: ExceptionInfo) -> FailureResponse:
        log_failure(self._log, record, exception)
        return super().failure_handler(record, exception)


class LoggedBatchProcessor(_Logged, BatchProcessor):
    """The media function's processor (a plain record handler)."""


class LoggedAsyncBatchProcessor(_Logged, AsyncBatchProcessor):
    """The sender's processor (an async record handler)."""
