"""SQS -> the platform. Thin: Powertools' async batch processor runs `sending.send` for each
record of a batch concurrently, and returns the records to retry as batch item failures."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import async_process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from messaggio_core.client import PlatformClient, Timeouts
from messaggio_core.dal.clients import change_visibility
from messaggio_core.dal.media import MediaStore
from messaggio_core.dal.messages import MessageStore
from messaggio_core.dal.optouts import OptOutStore
from messaggio_core.dal.secrets import Credentials, CredentialsUnavailable, credentials
from messaggio_core.failures import LoggedAsyncBatchProcessor, RetryLater, failure_fields
from messaggio_core.images import ImageCache
from messaggio_core.pacing import Pacer
from messaggio_core.protocol.answer import Outcome
from messaggio_sender.sending import Deps, Done, Suppression, batch_phones, send
from messaggio_sender.settings import settings

logger = Logger()
metrics = Metrics()

# Seconds kept free at the end of an invocation: no send starts closer than this to the
# Lambda timeout, so no claim is left behind by a timeout that could be foreseen.
SAFETY_SECONDS = 2.0

# Each outcome counted under its own name (README, Operating: the metrics).
METRIC = {
    Outcome.SUBMITTED: "Submitted",
    Outcome.REJECTED: "Rejected",
    Outcome.RETRIED: "Retried",
    Outcome.ACCOUNT_PROBLEM: "AccountProblem",
    Outcome.UNKNOWN: "Unknown",
    Outcome.DUPLICATE: "Duplicate",
    Outcome.IN_FLIGHT: "InFlight",
}


class AccountBlocked(Exception):
    """Every record of the batch hit an account problem (-2, -5): the invocation fails, so
    Lambda's SQS poller backs off instead of hammering the platform."""


@cache
def deps() -> Deps:
    """Built on the first invocation and kept for the container's life (warm starts)."""
    config = settings()
    client = PlatformClient(
        config.send_url,
        config.media_url,
        Timeouts(config.connect_timeout, config.read_timeout),
        pool=config.workers,
    )

    def creds() -> Credentials:
        return credentials(config.secret_id)

    return Deps(
        store=MessageStore(config.table, config.retention_days),
        optouts=OptOutStore(config.table),
        client=client,
        pacer=Pacer(config.share, start_full=config.pacer_start_full),
        # `image: s3://...` resolves through the media function's own cache and uploader.
        images=ImageCache(
            MediaStore(config.table, config.retention_days),
            client,
            creds,
            max_age_days=config.media_max_age_days,
        ),
        credentials=creds,
        executor=ThreadPoolExecutor(config.workers, thread_name_prefix="send"),
        claim_stale_after=config.claim_stale_after,
        request_budget=config.connect_timeout + config.read_timeout,
    )


# A reason is logged as the table keeps it (its first 1,000 characters): a body breaking
# thousands of rules must not make a log line of hundreds of kilobytes.
REASON_LOGGED = 1000


def report(done: Done, message_id: str) -> None:
    """One log line and one metric per record; never a phone number or a text."""
    metrics.add_metric(name=METRIC[done.outcome], unit=MetricUnit.Count, value=1)
    if done.suppressed:
        count = done.suppressed
        metrics.add_metric(name="SuppressedRecipients", unit=MetricUnit.Count, value=count)
    fields = {
        "correlation_id": done.p_transaction_id,
        "message_id": message_id,
        "result": done.outcome.value,
        "reason": done.reason[:REASON_LOGGED] if done.reason is not None else None,
        "kind": done.kind,
        "recipients": done.recipients,
        "suppressed": done.suppressed,
    }
    if done.failed:
        # The record goes to the dead-letter queue: an operator redrives it (README).
        metrics.add_metric(name="DeadLettered", unit=MetricUnit.Count, value=1)
        logger.error("send failed on its last attempt: dead-lettered", extra=fields)
    elif done.outcome in (Outcome.ACCOUNT_PROBLEM, Outcome.UNKNOWN):
        logger.error("send needs attention", extra=fields)
    elif done.outcome is Outcome.REJECTED:
        logger.warning("send rejected", extra=fields)
    else:
        logger.info("send processed", extra=fields)
    for warning in done.warnings:
        logger.warning(warning, extra={"correlation_id": done.p_transaction_id})


def _receives(record: SQSRecord) -> int:
    """How many times SQS has handed this record out (1 on the first delivery)."""
    count = str(record.attributes.get("ApproximateReceiveCount") or "")
    return int(count) if count.isdigit() else 0


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    dependencies = deps()
    try:
        dependencies.credentials()  # fetched (or served from cache) once, before the batch
    except CredentialsUnavailable as exc:
        # Nothing can be sent: the invocation fails, every record is retried, and the line
        # says what is wrong with the secret (never its value).
        ids = [r.get("messageId") for r in event.get("Records", [])]
        logger.error(
            "platform credentials unavailable",
            extra={**failure_fields(None, exc), "reason": str(exc), "message_ids": ids},
        )
        raise
    deadline = time.monotonic() + context.get_remaining_time_in_millis() / 1000 - SAFETY_SECONDS
    backoff = settings().account_backoff
    max_receives = settings().max_receive_count

    outcomes: list[Outcome] = []
    # The batch's opt-out check: one read for every phone, made at its first claim.
    suppression = Suppression(batch_phones(r.get("body") or "" for r in event.get("Records", [])))

    async def handle(record: SQSRecord) -> str:
        final = max_receives is not None and _receives(record) >= max_receives
        done = await send(
            record.body, record.message_id, dependencies, deadline, suppression, final=final
        )
        outcomes.append(done.outcome)
        report(done, record.message_id)
        if done.outcome is Outcome.ACCOUNT_PROBLEM and backoff:
            # Not again in a tight loop: the message stays hidden for the back-off.
            try:
                change_visibility(record.event_source_arn, record.receipt_handle, backoff)
            except Exception:
                logger.exception("could not extend the message's visibility")
        if done.outcome.retried:
            raise RetryLater(done.outcome.value)
        return done.outcome.value

    # A processor per invocation: it holds the batch's records and results. A batch whose
    # every record is retried is an answer like any other, not an invocation error...
    # Records that fail for a reason nobody expected log one ERROR line each (failures.py).
    processor = LoggedAsyncBatchProcessor(logger)
    answer = async_process_partial_response(
        event=event, record_handler=handle, processor=processor, context=context
    )
    # ...except when the account itself is blocked.
    if outcomes and all(o is Outcome.ACCOUNT_PROBLEM for o in outcomes):
        raise AccountBlocked(f"{len(outcomes)} records hit an account problem")
    return answer
