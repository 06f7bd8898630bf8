"""Lambda's DynamoDB-stream event source mapping, in small, over moto's stream API
(dynamodbstreams GetShardIterator/GetRecords): records in batches, in order, a batch item
failure retried from the lowest failed sequence number, a function error bisected, a record
retried at most `max_retries` times and then described to the on-failure destination.

What it leaves out, and says so: MaximumRecordAgeInSeconds (local time is not compressed)
and parallelization (moto keeps one shard). What it corrects: moto records an UpdateItem that
creates an item as two INSERTs, the first holding the keys alone (DynamoDB records one); that
first one is dropped here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass, field
from datetime import UTC, datetime
from typing import Any

Invoke = Callable[[dict[str, Any]], Any]


@dataclass
class Pumped:
    """What one `pump` did, for tests and the local stack's log."""

    invocations: int = 0
    records: int = 0  # records checkpointed (handled or given up)
    errors: int = 0  # invocations that raised
    given_up: list[str] = field(default_factory=list)  # sequence numbers sent on-failure


@dataclass
class StreamSource:
    streams: Any  # a boto3 dynamodbstreams client
    stream_arn: str
    _: KW_ONLY
    batch_size: int = 100
    max_retries: int = 10
    bisect: bool = True
    report_failures: bool = True
    region: str = "eu-west-1"
    on_failure: Callable[[dict[str, Any]], None] | None = None
    _buffer: list[dict[str, Any]] = field(default_factory=list, init=False)
    _retries: dict[str, int] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        streams, arn = self.streams, self.stream_arn
        shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]
        self.shard_id: str = shard["ShardId"]
        self._iterator: str = streams.get_shard_iterator(
            StreamArn=arn, ShardId=self.shard_id, ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]

    def fetch(self) -> int:
        """Reads what the stream has past the last read; returns how many records came."""
        got = 0
        while True:
            page = self.streams.get_records(ShardIterator=self._iterator, Limit=1000)
            self._iterator = page["NextShardIterator"]
            records = page.get("Records", [])
            if not records:
                return got
            kept = [self._lambda_record(r) for r in records if not _keys_only_insert(r)]
            self._buffer.extend(kept)
            got += len(kept)

    def pending(self) -> int:
        return len(self._buffer)

    def pump(self, invoke: Invoke, *, max_invocations: int = 10_000) -> Pumped:
        """Hands every record read so far (and any that arrive meanwhile) to `invoke`,
        until none is left or `max_invocations` calls were made."""
        done = Pumped()
        size = self.batch_size
        while done.invocations < max_invocations:
            self.fetch()
            if not self._buffer:
                return done
            batch = self._buffer[:size]
            done.invocations += 1
            try:
                answer = invoke({"Records": batch})
            except Exception:
                done.errors += 1
                if self.bisect and len(batch) > 1:
                    size = max(1, len(batch) // 2)  # a split does not count as a retry
                    continue
                self._failed(batch, 0, done)
                continue
            failed = self._failed_sequences(answer)
            if not failed:
                self._checkpoint(len(batch), done)
                size = self.batch_size
                continue
            # Lambda resumes at the lowest failed sequence number: what precedes it is done.
            first = min(i for i, r in enumerate(batch) if r["dynamodb"]["SequenceNumber"] in failed)
            self._checkpoint(first, done)
            self._failed(batch, first, done)
        return done

    def _failed_sequences(self, answer: Any) -> set[str]:
        if not self.report_failures or not isinstance(answer, dict):
            return set()
        return {str(f["itemIdentifier"]) for f in answer.get("batchItemFailures", [])}

    def _failed(self, batch: list[dict[str, Any]], index: int, done: Pumped) -> None:
        """The record at `index` failed once more; past its retries it is given up."""
        sequence = batch[index]["dynamodb"]["SequenceNumber"]
        self._retries[sequence] = self._retries.get(sequence, 0) + 1
        if self._retries[sequence] <= self.max_retries:
            return
        del self._retries[sequence]
        self._buffer.pop(0)
        done.records += 1
        done.given_up.append(sequence)
        if self.on_failure is not None:
            self.on_failure(self._failure_description(batch[index]))

    def _checkpoint(self, count: int, done: Pumped) -> None:
        for record in self._buffer[:count]:
            self._retries.pop(record["dynamodb"]["SequenceNumber"], None)
        del self._buffer[:count]
        done.records += count

    def _failure_description(self, record: dict[str, Any]) -> dict[str, Any]:
        """What Lambda sends to an on-failure destination for a stream: the batch's place in
        the shard, not its records."""
        sequence = record["dynamodb"]["SequenceNumber"]
        return {
            "requestContext": {
                "condition": "RetryAttemptsExhausted",
                "approximateInvokeCount": self.max_retries + 1,
            },
            "responseContext": {"statusCode": 200, "functionError": "Unhandled"},
            "version": "1.0",
            "timestamp": datetime.now(UTC).isoformat(),
            "DDBStreamBatchInfo": {
                "shardId": self.shard_id,
                "startSequenceNumber": sequence,
                "endSequenceNumber": sequence,
                "batchSize": 1,
                "streamArn": self.stream_arn,
            },
        }

    def _lambda_record(self, record: dict[str, Any]) -> dict[str, Any]:
        """A GetRecords record as Lambda hands it to the function (times as epoch seconds,
        the stream's ARN added)."""
        stream = dict(record["dynamodb"])
        created = stream.get("ApproximateCreationDateTime")
        if isinstance(created, datetime):
            stream["ApproximateCreationDateTime"] = int(created.timestamp())
        return {
            "eventID": record["eventID"],
            "eventName": record["eventName"],
            "eventVersion": "1.1",
            "eventSource": "aws:dynamodb",
            "awsRegion": self.region,
            "dynamodb": stream,
            "eventSourceARN": self.stream_arn,
        }


def _keys_only_insert(record: dict[str, Any]) -> bool:
    """moto's first record of an UpdateItem that creates an item (see the module's doc)."""
    stream = record["dynamodb"]
    return bool(record["eventName"] == "INSERT" and stream.get("NewImage") == stream.get("Keys"))
