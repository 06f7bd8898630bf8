"""The media function's settings, read from the environment once per container."""

from __future__ import annotations

import os
from functools import cache

from pydantic import BaseModel, ConfigDict, Field

from messaggio_core.protocol.surface import ENV_MEDIA_URL, ENV_SECRET_ID


class MediaSettings(BaseModel):
    model_config = ConfigDict(frozen=True)

    media_url: str = Field(pattern=r"^https?://")
    secret_id: str = Field(min_length=1)
    table: str = Field(min_length=1)
    retention_days: int = Field(default=90, ge=1)
    # Uploaded images older than this are uploaded again (None: an image_id stays valid).
    media_max_age_days: float | None = Field(default=None, gt=0)
    connect_timeout: float = Field(default=3.05, gt=0)
    read_timeout: float = Field(default=10.0, gt=0)


ENV = {
    "media_url": ENV_MEDIA_URL,
    "secret_id": ENV_SECRET_ID,
    "table": "MESSAGES_TABLE",
    "retention_days": "RETENTION_DAYS",
    "media_max_age_days": "MEDIA_MAX_AGE_DAYS",
    "connect_timeout": "PLATFORM_CONNECT_TIMEOUT",
    "read_timeout": "PLATFORM_READ_TIMEOUT",
}


@cache
def settings() -> MediaSettings:
    values = {field: os.environ[var] for field, var in ENV.items() if os.environ.get(var)}
    return MediaSettings.model_validate(values)
