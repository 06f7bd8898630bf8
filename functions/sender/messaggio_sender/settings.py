"""The sender's settings (messaggio_core.settings: one style for every function)."""

from __future__ import annotations

from functools import cache

from pydantic import Field

from messaggio_core.protocol.surface import DEFAULT_RATE_LIMIT, ENV_RATE_LIMIT, ENV_SEND_URL
from messaggio_core.settings import PlatformSettings


class SenderSettings(PlatformSettings):
    """The platform's settings, and how the sender sends."""

    send_url: str = Field(validation_alias=ENV_SEND_URL, pattern=r"^https?://")
    # Section G: the account's recipients a second, shared by every concurrent invocation.
    rate_limit: float = Field(validation_alias=ENV_RATE_LIMIT, default=DEFAULT_RATE_LIMIT, gt=0)
    # The event source's maximum concurrency (template: SenderMaxConcurrency); each
    # invocation paces itself at rate_limit / max_concurrency.
    max_concurrency: int = Field(validation_alias="SENDER_MAX_CONCURRENCY", default=2, ge=1)
    # A claim older than this belongs to an invocation that died mid-call (the function's
    # timeout plus a margin): its send is `unknown`, never re-sent.
    claim_stale_after: float = Field(validation_alias="SEND_CLAIM_STALE_SECONDS", default=40, gt=0)
    # How long a message waits on an account problem (-2, -5) before it is tried again.
    account_backoff: int = Field(
        validation_alias="ACCOUNT_BACKOFF_SECONDS", default=300, ge=0, le=43_200
    )
    # A new container waits one window before its first send (see Pacer's start_full): it
    # cannot know what a container it replaces sent in its last second.
    pacer_start_full: bool = Field(validation_alias="SENDER_PACER_START_FULL", default=True)
    # The send queue's maxReceiveCount (template: SendMaxReceiveCount): a record delivered
    # this many times is on its last attempt, and goes to the dead-letter queue if it fails.
    # None: not known, no attempt is treated as the last.
    max_receive_count: int | None = Field(
        validation_alias="SEND_MAX_RECEIVE_COUNT", default=None, ge=1
    )
    # Requests of one batch in flight at once (and the HTTP pool size): at least the event
    # source's BatchSize, so no record of a batch waits for a thread.
    workers: int = Field(validation_alias="SENDER_WORKERS", default=32, ge=1, le=64)

    @property
    def share(self) -> float:
        return self.rate_limit / self.max_concurrency


@cache
def settings() -> SenderSettings:
    """Read once: the environment of a Lambda container does not change."""
    return SenderSettings.from_environment()
