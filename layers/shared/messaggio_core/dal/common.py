"""What every table access shares: attribute values, errors, timestamps."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

_SERIALIZER = TypeSerializer()
_DESERIALIZER = TypeDeserializer()


class StorageError(Exception):
    """The table or bucket could not be read or written (throttled, down): retry later."""


def now_iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")[:-4] + "Z"


def s(value: str) -> dict[str, Any]:
    return {"S": value}


def n(value: float) -> dict[str, Any]:
    return {"N": repr(value) if isinstance(value, float) else str(value)}


def code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", "Unknown"))


def to_value(value: Any) -> dict[str, Any]:
    """A plain value in DynamoDB's AttributeValue form (boto3's own serializer)."""
    serialized: dict[str, Any] = dict(_SERIALIZER.serialize(value))
    return serialized


def to_item(values: dict[str, Any]) -> dict[str, Any]:
    return {name: to_value(value) for name, value in values.items()}


to_values = to_item  # ExpressionAttributeValues have the same form


def from_item(item: Mapping[str, Any]) -> dict[str, Any]:
    """An item (or key) read from DynamoDB to plain values (numbers come back Decimal)."""
    return {name: _DESERIALIZER.deserialize(value) for name, value in item.items()}
