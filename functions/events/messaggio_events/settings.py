"""The events function's settings, read from the environment once per container."""

from __future__ import annotations

import os
from functools import cache

from pydantic import BaseModel, ConfigDict, Field


class EventsSettings(BaseModel):
    model_config = ConfigDict(frozen=True)

    table: str = Field(min_length=1)
    retention_days: int = Field(default=90, ge=1)
    # A name or an ARN; "default" is the account's default bus.
    event_bus_name: str = Field(default="default", min_length=1)


ENV = {
    "table": "MESSAGES_TABLE",
    "retention_days": "RETENTION_DAYS",
    "event_bus_name": "EVENT_BUS_NAME",
}


@cache
def settings() -> EventsSettings:
    values = {field: os.environ[var] for field, var in ENV.items() if os.environ.get(var)}
    return EventsSettings.model_validate(values)
