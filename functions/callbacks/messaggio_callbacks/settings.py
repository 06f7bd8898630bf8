"""The callbacks function's settings (messaggio_core.settings: one style for every function)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import ClassVar, Final

from aws_lambda_powertools import Logger

from messaggio_callbacks.domain import AllowList, read_allow_list
from messaggio_core.protocol.optout import (
    DEFAULT_OPT_IN,
    DEFAULT_OPT_OUT,
    Keywords,
    keyword_list,
)
from messaggio_core.protocol.surface import ENV_ALLOWED_CIDRS, ENV_SECRET_ID
from messaggio_core.settings import FunctionSettings, var

logger = Logger(child=True)
ANYONE: Final = AllowList()  # CALLBACK_ALLOWED_CIDRS unset or empty


@dataclass(frozen=True, kw_only=True)
class CallbacksSettings(FunctionSettings):
    """MESSAGES_TABLE, RETENTION_DAYS, MESSAGGIO_SECRET_ID, CALLBACK_ALLOWED_CIDRS,
    OPT_OUT_KEYWORDS, OPT_IN_KEYWORDS."""

    # An empty keyword list is a list: no resume keyword (opt-in), or refused (opt-out).
    KEEP_EMPTY: ClassVar[frozenset[str]] = frozenset({"OPT_OUT_KEYWORDS", "OPT_IN_KEYWORDS"})

    secret_id: str = var(ENV_SECRET_ID, min_length=1)
    # Empty means any source may call (section G); the token still guards the route. A list
    # that cannot be read is not an error here: it refuses every callback (403, logged once)
    # while the status route keeps working.
    # RUF009: var() is a field specifier (dataclasses.field with the variable's name).
    allowed_cidrs: AllowList = var(ENV_ALLOWED_CIDRS, read_allow_list, default=ANYONE)  # noqa: RUF009
    # Comma-separated (template parameters OptOutKeywords, OptInKeywords); replace the defaults.
    opt_out_keywords: tuple[str, ...] = var(
        "OPT_OUT_KEYWORDS", keyword_list, default=DEFAULT_OPT_OUT, min_length=1
    )
    opt_in_keywords: tuple[str, ...] = var("OPT_IN_KEYWORDS", keyword_list, default=DEFAULT_OPT_IN)

    def __post_init__(self) -> None:
        self.keywords  # noqa: B018 (raises ValueError when a keyword is in both lists)

    @property
    def keywords(self) -> Keywords:
        return _keywords(self.opt_out_keywords, self.opt_in_keywords)


@cache
def _keywords(opt_out: tuple[str, ...], opt_in: tuple[str, ...]) -> Keywords:
    return Keywords.of(opt_out, opt_in)


@cache
def settings() -> CallbacksSettings:
    """Read once: the environment of a Lambda container does not change."""
    config = CallbacksSettings.from_environment()
    if config.allowed_cidrs.broken is not None:
        logger.error(
            f"{ENV_ALLOWED_CIDRS} unreadable: every callback is refused (403) until it is fixed",
            extra={"reason": config.allowed_cidrs.broken},
        )
    return config
