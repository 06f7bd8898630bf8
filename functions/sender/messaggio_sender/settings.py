"""The sender's settings (messaggio_core.settings: one style for every function)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from messaggio_core.protocol.surface import DEFAULT_RATE_LIMIT, ENV_RATE_LIMIT, ENV_SEND_URL
from messaggio_core.settings import PlatformSettings, boolean, integer, var


@dataclass(frozen=True, kw_only=True)
class SenderSettings(PlatformSettings):
    """The platform's settings, and how the sender sends."""

    send_url: str = var(ENV_SEND_URL, pattern=r"^https?://")
    # Section G: the account's recipients a second, shared by every concurrent invocation.
    rate_limit: float = var(ENV_RATE_LIMIT, float, default=DEFAULT_RATE_LIMIT, gt=0)
    # The event source's maximum concurrency (template: SenderMaxConcurrency); each
    # invocation paces itself at rate_limit / max_concurrency.
    max_concurrency: int = var("SENDER_MAX_CONCURRENCY", integer, default=2, ge=1)
    # A claim older than this belongs to an invocation that died mid-call (the function's
    # timeout plus a margin): its send is `unknown`, never re-sent.
    claim_stale_after: float = var("SEND_CLAIM_STALE_SECONDS", float, default=40.0, gt=0)
    # How long a message waits on an account problem (-2, -5) before it is tried again.
    account_backoff: int = var("ACCOUNT_BACKOFF_SECONDS", integer, default=300, ge=0, le=43_200)
    # A new container waits one window before its first send (see Pacer's start_full): it
    # cannot know what a container it replaces sent in its last second.
    pacer_start_full: bool = var("SENDER_PACER_START_FULL", boolean, default=True)
    # The send queue's maxReceiveCount (template: SendMaxReceiveCount): a record delivered
    # this many times is on its last attempt, and goes to the dead-letter queue if it fails.
    # None: not known, no attempt is treated as the last.
    max_receive_count: int | None = var("SEND_MAX_RECEIVE_COUNT", integer, default=None, ge=1)
    # Requests of one batch in flight at once (and the HTTP pool size): at least the event
    # source's BatchSize, so no record of a batch waits for a thread.
    workers: int = var("SENDER_WORKERS", integer, default=32, ge=1, le=64)

    @property
    def share(self) -> float:
        return self.rate_limit / self.max_concurrency


@cache
def settings() -> SenderSettings:
    """Read once: the environment of a Lambda container does not change."""
    return SenderSettings.from_environment()
