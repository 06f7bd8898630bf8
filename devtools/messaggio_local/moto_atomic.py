"""Makes moto's DynamoDB apply writes one at a time, as DynamoDB does.

Real DynamoDB evaluates a conditional write atomically per item; moto's backend does not lock,
so two threads can both pass `attribute_not_exists(pk)`. The once-only guard of the sender
and the media cache is exactly that condition, so without this the emulator, not the code,
would decide whether a race sends twice.

A cancelled transaction leaves no trace in the table's stream, as in DynamoDB (a repeated
STOP or START reply is one: without this, moto's stream would publish its writes and then
lose every later record; see `_cancel_leaves_no_trace`).
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


def _cancel_leaves_no_trace(method: Callable[..., Any]) -> Callable[..., Any]:
    """moto undoes a cancelled transaction by putting back a deep copy of each table taken
    before it, stream shard included: the records of the cancelled writes stay in the shard
    that open shard iterators read, and later writes go to the copy's, which they never read.
    Here the live shard is put back instead, without the cancelled writes' records."""

    @functools.wraps(method)
    def wrapper(self: DynamoDBBackend, *args: Any, **kwargs: Any) -> Any:
        shards = {
            name: (table.stream_shard, len(table.stream_shard.items))
            for name, table in self.tables.items()
            if table.stream_shard is not None
        }
        try:
            return method(self, *args, **kwargs)
        except Exception:
            for name, (shard, length) in shards.items():
                table = self.tables.get(name)
                if table is not None and table.stream_shard is not shard:
                    del shard.items[length:]
                    shard.table = table
                    table.stream_shard = shard
            raise

    return wrapper


def make_dynamodb_atomic() -> None:
    """Idempotent: wraps each write (and read, so none sees half an update) once."""
    for name in _METHODS:
        method = getattr(DynamoDBBackend, name)
        if not getattr(method, "_messaggio_atomic", False):
            if name == "transact_write_items":
                method = _cancel_leaves_no_trace(method)
            setattr(DynamoDBBackend, name, _locked(method))
