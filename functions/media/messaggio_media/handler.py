"""S3 notifications (through SQS, as deployed, or straight from S3) -> images uploaded once.
Thin: parse, upload, report."""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes import S3Event
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from messaggio_core.client import PlatformClient, Timeouts
from messaggio_core.dal.media import MediaStore
from messaggio_core.dal.secrets import Credentials, credentials
from messaggio_core.failures import LoggedBatchProcessor, RecordFailed, RetryLater
from messaggio_core.images import ImageCache
from messaggio_core.protocol.ids import S3Ref
from messaggio_core.protocol.media import UploadOutcome
from messaggio_media.settings import settings
from messaggio_media.uploads import BadNotification, created, objects, upload

logger = Logger()
metrics = Metrics()

# Each outcome counted under its own name (README, Operating: the metrics).
METRIC = {
    UploadOutcome.UPLOADED: "MediaUploaded",
    UploadOutcome.CACHED: "MediaCached",
    UploadOutcome.REFUSED: "MediaRefused",
    UploadOutcome.RETRIED: "MediaRetried",
}


@cache
def image_cache() -> ImageCache:
    config = settings()

    def creds() -> Credentials:
        return credentials(config.secret_id)

    return ImageCache(
        MediaStore(config.table, config.retention_days),
        PlatformClient(
            None, config.media_url, Timeouts(config.connect_timeout, config.read_timeout)
        ),
        creds,
        max_age_days=config.media_max_age_days,
    )


def handle(record: SQSRecord) -> None:
    try:
        refs = objects(record)
    except BadNotification as exc:
        logger.warning(
            "not an S3 notification", extra={"message_id": record.message_id, "reason": str(exc)}
        )
        metrics.add_metric(name="MediaRefused", unit=MetricUnit.Count, value=1)
        return
    upload_all(refs, record.message_id)


def upload_all(refs: list[S3Ref], message_id: str | None) -> None:
    """Each object uploaded once; RetryLater names those to try again."""
    if not refs:
        logger.info("nothing to upload", extra={"message_id": message_id})
        metrics.add_metric(name="MediaIgnored", unit=MetricUnit.Count, value=1)
    retry = []
    for ref in refs:
        try:
            result = upload(image_cache(), ref)
        except Exception as exc:
            # Unexpected (a store refusing a call, S3 access denied, the secret): logged
            # with this object by the processor, and retried.
            raise RecordFailed(object=str(ref)) from exc
        metrics.add_metric(name=METRIC[result.outcome], unit=MetricUnit.Count, value=1)
        fields = {
            "message_id": message_id,
            "object": str(ref),
            "result": result.outcome.value,
            "reason": result.reason,
        }
        if result.outcome is UploadOutcome.REFUSED:
            logger.warning("image refused", extra=fields)
        else:
            logger.info("image processed", extra=fields)
        if result.outcome is UploadOutcome.RETRIED:
            retry.append(str(ref))
    if retry:
        raise RetryLater(", ".join(retry))


def _from_s3(event: dict[str, Any]) -> bool:
    records = event.get("Records")
    return isinstance(records, list) and bool(records) and records[0].get("eventSource") == "aws:s3"


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    if _from_s3(event):
        # S3 invoking the function itself (what `sam local generate-event s3 put` makes): one
        # notification, retried whole by S3's asynchronous invoke if an upload must be.
        try:
            refs = created(S3Event(event))
        except BadNotification as exc:
            raise ValueError(f"not an S3 notification: {exc}") from exc
        upload_all(refs, None)
        return {"batchItemFailures": []}
    processor = LoggedBatchProcessor(logger)
    return process_partial_response(
        event=event, record_handler=handle, processor=processor, context=context
    )
