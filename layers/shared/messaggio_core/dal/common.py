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
# `state` is a reserved word: expressions name it #state.
STATE: Final[Mapping[str, str]] = {"#state": "state"}
# S3's codes for an object that does not exist (HEAD has no body: its code is the status). An
# object in a bucket that does not exist is missing too: a reference or an S3 event naming a
# wrong bucket can never be read, so retrying it only fills the dead-letter queue.
_MISSING: Final = frozenset({"404", "NoSuchKey", "NotFound", "NoSuchBucket"})


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

    def get(self, key: Mapping[str, Any], **options: Any) -> dict[str, Any] | None:
        """One GetItem (`options`: its projection, consistency): the item's plain values, or
        None when there is no such item."""
        with aws_errors():
            answer = self.client.get_item(TableName=self.table, Key=to_item(key), **options)
        item = answer.get("Item")
        return from_item(item) if item else None

    def update(
        self,
        key: Mapping[str, Any],
        expression: str,
        values: Mapping[str, Any],
        condition: str | None = None,
        *,
        names: Mapping[str, str] = STATE,
        old_on_failure: bool = False,
    ) -> None:
        """One UpdateItem, all plain values (`names`: attribute names the expressions may
        use). ConditionFailed when `condition` does not hold, with the item as it was if
        `old_on_failure`."""
        request = {"TableName": self.table, "Key": to_item(key), "UpdateExpression": expression}
        with aws_errors():
            self.client.update_item(**_write(request, condition, values, names, old_on_failure))

    def put(
        self, item: Mapping[str, Any], condition: str | None = None, *, old_on_failure: bool = False
    ) -> None:
        """One PutItem of plain values; ConditionFailed as `update`."""
        request = {"TableName": self.table, "Item": to_item(item)}
        with aws_errors():
            self.client.put_item(**_write(request, condition, {}, STATE, old_on_failure))

    def delete(
        self,
        key: Mapping[str, Any],
        condition: str | None = None,
        values: Mapping[str, Any] | None = None,
    ) -> dict[str, Any] | None:
        """One DeleteItem: the item as it was, None when there was none. ConditionFailed
        when `condition` (with its `values`) does not hold."""
        request = {"TableName": self.table, "Key": to_item(key), "ReturnValues": "ALL_OLD"}
        with aws_errors():
            answer = self.client.delete_item(**_write(request, condition, values or {}, STATE))
        old = answer.get("Attributes")
        return from_item(old) if old else None

    def query(
        self,
        pk: str,
        *,
        prefix: str | None = None,
        after: Mapping[str, Any] | None = None,
        limit: int | None = None,
        newest_first: bool = False,
    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        """One Query page of the partition `pk` (sort keys starting with `prefix`), after the
        key `after`: its items, and the last key read when more may remain (DynamoDB's
        LastEvaluatedKey), all plain values."""
        condition = "pk = :pk" + (" AND begins_with(sk, :prefix)" if prefix is not None else "")
        values = {":pk": pk} if prefix is None else {":pk": pk, ":prefix": prefix}
        request: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": condition,
            "ExpressionAttributeValues": to_values(values),
            "ScanIndexForward": not newest_first,
        }
        if after is not None:
            request["ExclusiveStartKey"] = to_item(after)
        if limit is not None:
            request["Limit"] = limit
        with aws_errors():
            page = self.client.query(**request)
        last = page.get("LastEvaluatedKey")
        return [from_item(item) for item in page.get("Items", [])], from_item(
            last
        ) if last else None

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


def _write(
    request: dict[str, Any],
    condition: str | None,
    values: Mapping[str, Any],
    names: Mapping[str, str],
    old_on_failure: bool = False,
) -> dict[str, Any]:
    """A write's request with its condition, the values and the attribute names its
    expressions use (DynamoDB refuses a name no expression uses), and the old item asked
    for when the condition fails."""
    expressions = f"{request.get('UpdateExpression', '')} {condition or ''}"
    if condition is not None:
        request["ConditionExpression"] = condition
    if values:
        request["ExpressionAttributeValues"] = to_values(values)
    used = {name: attribute for name, attribute in names.items() if name in expressions}
    if used:
        request["ExpressionAttributeNames"] = used
    if old_on_failure:
        request["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
    return request
