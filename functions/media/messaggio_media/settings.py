"""The media function's settings (messaggio_core.settings: one style for every function)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from messaggio_core.settings import PlatformSettings


@dataclass(frozen=True, kw_only=True)
class MediaSettings(PlatformSettings):
    """MESSAGES_TABLE, RETENTION_DAYS, MESSAGGIO_SECRET_ID, MESSAGGIO_MEDIA_URL, the
    platform's timeouts and MEDIA_MAX_AGE_DAYS: nothing of its own."""


@cache
def settings() -> MediaSettings:
    """Read once: the environment of a Lambda container does not change."""
    return MediaSettings.from_environment()
