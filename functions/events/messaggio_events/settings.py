"""The events function's settings (messaggio_core.settings: one style for every function)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from messaggio_core.settings import FunctionSettings, var


@dataclass(frozen=True, kw_only=True)
class EventsSettings(FunctionSettings):
    """MESSAGES_TABLE, RETENTION_DAYS and EVENT_BUS_NAME."""

    # A name or an ARN; "default" is the account's default bus.
    event_bus_name: str = var("EVENT_BUS_NAME", default="default", min_length=1)


@cache
def settings() -> EventsSettings:
    """Read once: the environment of a Lambda container does not change."""
    return EventsSettings.from_environment()
