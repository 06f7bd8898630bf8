"""The sender's settings, read from the environment once per container."""

from __future__ import annotations

import os
from functools import cache

from pydantic import BaseModel, ConfigDict, Field

from messaggio_core.protocol.surface import (
    DEFAULT_RATE_LIMIT,
    ENV_MEDIA_URL,
    ENV_RATE_LIMIT,
    ENV_SECRET_ID,
    ENV_SEND_URL,
)


class SenderSettings(BaseModel):
    model_config = ConfigDict(frozen=True)

    send_url: str = Field(pattern=r"^https?://")
    media_url: str = Field(pattern=r"^https?://")
    secret_id: str = Field(min_length=1)
    table: str = Field(min_length=1)
    retention_days: int = Field(default=90, ge=1)
    # Section G: the account's recipients a second, shared by every concurrent invocation.
    rate_limit: float = Field(default=DEFAULT_RATE_LIMIT, gt=0)
    # The event source's maximum concurrency (template: SenderMaxConcurrency); each
    # invocation paces itself at rate_limit / max_concurrency.
    max_concurrency: int = Field(default=2, ge=1)
    # A claim older than this belongs to an invocation that died mid-call (the function's
    # timeout plus a margin): its send is `unknown`, never re-sent.
    claim_stale_after: float = Field(default=40, gt=0)
    # How long a message waits on an account problem (-2, -5) before it is tried again.
    account_backoff: int = Field(default=300, ge=0, le=43_200)
    connect_timeout: float = Field(default=3.05, gt=0)
    read_timeout: float = Field(default=10.0, gt=0)
    # Uploaded images older than this are uploaded again (None: an image_id stays valid).
    media_max_age_days: float | None = Field(default=None, gt=0)
    # A new container waits one window before its first send (see Pacer's start_full): it
    # cannot know what a container it replaces sent in its last second.
    pacer_start_full: bool = True
    # The send queue's maxReceiveCount (template: SendMaxReceiveCount): a record delivered
    # this many times is on its last attempt, and goes to the dead-letter queue if it fails.
    # None: not known, no attempt is treated as the last.
    max_receive_count: int | None = Field(default=None, ge=1)
    # Requests of one batch in flight at once (and the HTTP pool size): at least the event
    # source's BatchSize, so no record of a batch waits for a thread.
    workers: int = Field(default=32, ge=1, le=64)

    @property
    def share(self) -> float:
        return self.rate_limit / self.max_concurrency


ENV = {
    "send_url": ENV_SEND_URL,
    "media_url": ENV_MEDIA_URL,
    "secret_id": ENV_SECRET_ID,
    "table": "MESSAGES_TABLE",
    "retention_days": "RETENTION_DAYS",
    "rate_limit": ENV_RATE_LIMIT,
    "max_concurrency": "SENDER_MAX_CONCURRENCY",
    "claim_stale_after": "SEND_CLAIM_STALE_SECONDS",
    "account_backoff": "ACCOUNT_BACKOFF_SECONDS",
    "connect_timeout": "PLATFORM_CONNECT_TIMEOUT",
    "read_timeout": "PLATFORM_READ_TIMEOUT",
    "workers": "SENDER_WORKERS",
    "media_max_age_days": "MEDIA_MAX_AGE_DAYS",
    "pacer_start_full": "SENDER_PACER_START_FULL",
    "max_receive_count": "SEND_MAX_RECEIVE_COUNT",
}


@cache
def settings() -> SenderSettings:
    values = {field: os.environ[var] for field, var in ENV.items() if os.environ.get(var)}
    return SenderSettings.model_validate(values)
