"""The messages table's stream -> EventBridge. Thin: each record is read into a change
(messaggio_core.dal.messages.item_change), `domain.publish` decides and publishes the batch's
events, and Powertools' batch processor answers with the records to retry.

Logs carry record ids, p_transaction_id and detail types: never a phone number or a reply's
text (both are in the events themselves, on the company's own bus; an opt-out entry's
record logs no id but its sequence number, since its key is the phone).
"""

from __future__ import annotations

from collections import Counter
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import (
    DynamoDBRecord,
    DynamoDBStreamEvent,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from messaggio_core.dal.events import EventBus
from messaggio_core.dal.messages import MessageStore, item_change
from messaggio_events.domain import SOURCE, Change, Outcome, publish
from messaggio_events.settings import settings

logger = Logger()
metrics = Metrics()


class NotPublished(Exception):
    """Marks a record as a batch item failure: the stream hands it (and what follows it in
    its shard) out again, bisecting and at last sending it to the on-failure queue."""


@cache
def deps() -> tuple[MessageStore, EventBus]:
    """Built on the first invocation and kept for the container's life."""
    config = settings()
    return MessageStore(config.table, config.retention_days), EventBus(
        config.event_bus_name, SOURCE
    )


def read(record: DynamoDBRecord) -> Change:
    """The record's images in the table's own attribute-value form, read by the store's
    parsers (the same ones GET /messages/{id} and the opt-out routes use), and its time."""
    raw: dict[str, Any] = record["dynamodb"]
    created = raw.get("ApproximateCreationDateTime")
    return Change(
        str(raw["SequenceNumber"]),
        item_change(
            raw["Keys"],
            raw.get("OldImage"),
            raw.get("NewImage"),
            float(created) if created is not None else None,
        ),
    )


def report(outcome: Outcome, unreadable: int) -> None:
    """Metrics per outcome, one summary line, and one ERROR line per record that failed."""
    metrics.add_metric(name="EventsPublished", unit=MetricUnit.Count, value=len(outcome.published))
    metrics.add_metric(name="EventsFailed", unit=MetricUnit.Count, value=outcome.failed_events)
    for failure in outcome.failures.values():
        logger.error(
            "events not published; the stream retries the record",
            extra={
                "record_id": failure.change.record_id,
                "correlation_id": failure.p_transaction_id,
                "reason": failure.reason,
                "detail_types": list(failure.detail_types),
            },
        )
    logger.info(
        "stream batch processed",
        extra={
            "published": dict(Counter(e.detail_type for e in outcome.published)),
            "failed_events": outcome.failed_events,
            "failed_records": len(outcome.failures) + unreadable,
        },
    )


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    store, bus = deps()
    changes: list[Change] = []
    unreadable: set[str] = set()
    for record in DynamoDBStreamEvent(event).records:
        try:
            changes.append(read(record))
        except Exception as exc:  # a shape no parser knows: retried, then the failure queue
            sequence = str((record.raw_event.get("dynamodb") or {}).get("SequenceNumber"))
            unreadable.add(sequence)
            logger.error(
                "stream record unreadable",
                extra={"record_id": sequence, "reason": type(exc).__name__},
            )
    outcome = publish(changes, store, bus)
    report(outcome, len(unreadable))
    failed = unreadable | set(outcome.failures)

    def settle(record: DynamoDBRecord) -> None:
        sequence = record.dynamodb.sequence_number if record.dynamodb else None
        if sequence in failed:
            raise NotPublished(sequence)

    processor = BatchProcessor(event_type=EventType.DynamoDBStreams)
    return process_partial_response(
        event=event, record_handler=settle, processor=processor, context=context
    )
