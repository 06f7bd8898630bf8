"""The callbacks function's settings (messaggio_core.settings: one style for every function)."""

from __future__ import annotations

from functools import cache
from typing import ClassVar

from aws_lambda_powertools import Logger
from pydantic import ConfigDict, Field, field_validator, model_validator

from messaggio_callbacks.domain import AllowList, read_allow_list
from messaggio_core.protocol.optout import (
    DEFAULT_OPT_IN,
    DEFAULT_OPT_OUT,
    Keywords,
    keyword_list,
)
from messaggio_core.protocol.surface import ENV_ALLOWED_CIDRS, ENV_SECRET_ID
from messaggio_core.settings import FunctionSettings

logger = Logger(child=True)


class CallbacksSettings(FunctionSettings):
    """MESSAGES_TABLE, RETENTION_DAYS, MESSAGGIO_SECRET_ID, CALLBACK_ALLOWED_CIDRS,
    OPT_OUT_KEYWORDS, OPT_IN_KEYWORDS."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    # An empty keyword list is a list: no resume keyword (opt-in), or refused (opt-out).
    KEEP_EMPTY: ClassVar[frozenset[str]] = frozenset({"OPT_OUT_KEYWORDS", "OPT_IN_KEYWORDS"})

    secret_id: str = Field(validation_alias=ENV_SECRET_ID, min_length=1)
    # Empty means any source may call (section G); the token still guards the route. A list
    # that cannot be read is not an error here: it refuses every callback (403, logged once)
    # while the status route keeps working.
    allowed_cidrs: AllowList = Field(validation_alias=ENV_ALLOWED_CIDRS, default=AllowList())
    # Comma-separated (template parameters OptOutKeywords, OptInKeywords); replace the defaults.
    opt_out_keywords: tuple[str, ...] = Field(
        validation_alias="OPT_OUT_KEYWORDS", default=DEFAULT_OPT_OUT, min_length=1
    )
    opt_in_keywords: tuple[str, ...] = Field(
        validation_alias="OPT_IN_KEYWORDS", default=DEFAULT_OPT_IN
    )

    @field_validator("opt_out_keywords", "opt_in_keywords", mode="before")
    @classmethod
    def _keywords(cls, value: object) -> object:
        return keyword_list(value) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _distinct(self) -> CallbacksSettings:
        self.keywords  # noqa: B018 (raises ValueError when a keyword is in both lists)
        return self

    @property
    def keywords(self) -> Keywords:
        return _keywords(self.opt_out_keywords, self.opt_in_keywords)

    @field_validator("allowed_cidrs", mode="before")
    @classmethod
    def _read(cls, value: object) -> object:
        return read_allow_list(value) if isinstance(value, str) else value


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
