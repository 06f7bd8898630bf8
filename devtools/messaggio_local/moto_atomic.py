"""Makes moto's DynamoDB apply writes one at a time, as DynamoDB does.

Real DynamoDB evaluates a conditional write atomically per item; moto's backend does not lock,
so two threads can both pass `attribute_not_exists(pk)`. The once-only guard of the sender
and the media cache is exactly that condition, so without this the emulator, not the code,
would decide whether a race sends twice.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

from moto.dynamodb.models import DynamoDBBackend

_LOCK = threading.RLock()
_METHODS = ("put_item", "update_item", "delete_item", "transact_write_items", "get_item", "query")


def _locked(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with _LOCK:
            return method(*args, **kwargs)

    wrapper.__dict__["_messaggio_atomic"] = True
    return wrapper


def make_dynamodb_atomic() -> None:
    """Idempotent: wraps each write (and read, so none sees half an update) once."""
    for name in _METHODS:
        method = getattr(DynamoDBBackend, name)
        if not getattr(method, "_messaggio_atomic", False):
            setattr(DynamoDBBackend, name, _locked(method))
