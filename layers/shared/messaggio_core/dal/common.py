"""What every AWS access shares: items as plain values (boto3's own serializer), AWS's errors
as outcomes (in one place: `outcome`), the stores' common state, timestamps."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from messaggio_core.dal.clients import dynamodb

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

_SERIALIZER = TypeSerializer()
_DESERIALIZER = TypeDeserializer()
BATCH_GET_MAX: Final = 100  # keys in one BatchGetItem (DynamoDB's limit)
BATCH_GET_TRIES: Final = 5  # calls for one chunk's unprocessed keys before giving up
# S3's codes for an object that does not exist (HEAD has no body: its code is the status).
_MISSING: Final = frozenset({"404", "NoSuchKey", "NotFound"})


# -- outcomes ----------------------------------------------------------------------------------


class StorageError(Exception):
    """The table or bucket could not be read or written (throttled, down, access denied):
    retry later. The message names the operation, the HTTP status and AWS's error code."""


class ConditionFailed(Exception):
    """A conditional write's condition did not hold (in a transaction too): a repeat, or a
    claim that is not ours. `old`: the item as it was (plain values), when DynamoDB returned
    it (ReturnValuesOnConditionCheckFailure)."""

    def __init__(self, old: dict[str, Any] | None) -> None:
        super().__init__("ConditionalCheckFailed")
        self.old = old


class ObjectMissing(Exception):
    """The S3 object does not exist (deleted, or a wrong reference): refused for good."""


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", "Unknown"))


def outcome(exc: ClientError) -> Exception:
    """What an AWS error means to the stores. S3's 403 is not a missing object: without
    s3:ListBucket S3 says 403 for a missing key too, but a 403 may as well hide an object
    that exists, so it stays a StorageError (logged, retried) that names what was refused."""
    code = error_code(exc)
    response = dict[str, Any](exc.response)
    if code == "ConditionalCheckFailedException":
        old = response.get("Item")
        return ConditionFailed(from_item(old) if old else None)
    if code == "TransactionCanceledException":
        reasons = response.get("CancellationReasons") or []
        if any(r.get("Code") == "ConditionalCheckFailed" for r in reasons):
            return ConditionFailed(None)
    if code in _MISSING:
        return ObjectMissing(code)
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode", "?")
    return StorageError(f"{exc.operation_name} answered {status} {code}")


@contextmanager
def aws_errors() -> Iterator[None]:
    """Around every AWS call of a store: an AWS error raised inside becomes its outcome."""
    try:
        yield
    except ClientError as exc:
        raise outcome(exc) from exc


# -- items --------------------------------------------------------------------------------------


def to_value(value: Any) -> dict[str, Any]:
    """A plain value in DynamoDB's AttributeValue form (boto3's own serializer; a float, such
    as an epoch time, is written as repr() writes it)."""
    serialized: dict[str, Any] = dict(_SERIALIZER.serialize(_decimals(value)))
    return serialized


def _decimals(value: Any) -> Any:
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, list | tuple):
        return [_decimals(v) for v in value]
    if isinstance(value, dict):
        return {k: _decimals(v) for k, v in value.items()}
    return value


def to_item(values: Mapping[str, Any]) -> dict[str, Any]:
    return {name: to_value(value) for name, value in values.items()}


to_values = to_item  # ExpressionAttributeValues have the same form


def from_item(item: Mapping[str, Any]) -> dict[str, Any]:
    """An item (or key) read from DynamoDB to plain values (numbers come back Decimal)."""
    return {name: _DESERIALIZER.deserialize(value) for name, value in item.items()}


def now_iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")[:-4] + "Z"


# -- the stores ---------------------------------------------------------------------------------


class TableStore:
    """A store in the messages table: its name, how long its items are kept (0: for ever),
    the client (made on first use), the clock and the back-off's sleep (tests pass theirs)."""

    def __init__(
        self,
        table: str,
        retention_days: int = 0,
        client: Callable[[], DynamoDBClient] = dynamodb,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.table = table
        self.retention = retention_days * 86_400
        self._client = client
        self._clock = clock
        self._sleep = sleep

    @property
    def client(self) -> DynamoDBClient:
        return self._client()

    def expires(self, now: float) -> int:
        """The TTL attribute's value for an item written at `now`."""
        return int(now + self.retention)

    def batch_get(
        self, keys: Sequence[Mapping[str, Any]], **options: Any
    ) -> Iterator[dict[str, Any]]:
        """The items of `keys` that exist (plain values, in no order), by BatchGetItem in
        chunks of 100 (`options`: its projection, consistency). Unprocessed keys (throttled)
        are asked again with back-off, as the SDK would; StorageError after BATCH_GET_TRIES."""
        for start in range(0, len(keys), BATCH_GET_MAX):
            chunk = [to_item(key) for key in keys[start : start + BATCH_GET_MAX]]
            request: dict[str, Any] = {self.table: {"Keys": chunk, **options}}
            for attempt in range(BATCH_GET_TRIES):
                with aws_errors():
                    page = self.client.batch_get_item(RequestItems=request)
                yield from map(from_item, page.get("Responses", {}).get(self.table, []))
                request = dict(page.get("UnprocessedKeys") or {})
                if not request.get(self.table, {}).get("Keys"):
                    break
                self._sleep(0.05 * 2**attempt)
            else:
                raise StorageError("UnprocessedKeys")
