"""What every table access shares: attribute values, errors, timestamps."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError


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
