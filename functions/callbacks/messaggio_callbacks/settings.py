"""The function's configuration, read from its environment once per container.

Plain pydantic (not pydantic-settings) on purpose: the shared layer already carries pydantic,
and one more package in every cold start buys nothing for four variables.
"""

from __future__ import annotations

import os
from functools import cache

from aws_lambda_powertools import Logger
from pydantic import BaseModel, ConfigDict, Field, field_validator

from messaggio_callbacks.domain import AllowList, read_allow_list
from messaggio_core.protocol.surface import ENV_ALLOWED_CIDRS, ENV_SECRET_ID

logger = Logger(child=True)


class Settings(BaseModel):
    """MESSAGES_TABLE, RETENTION_DAYS, MESSAGGIO_SECRET_ID, CALLBACK_ALLOWED_CIDRS."""

    model_config = ConfigDict(frozen=True, extra="ignore", arbitrary_types_allowed=True)

    messages_table: str = Field(validation_alias="MESSAGES_TABLE", min_length=1)
    retention_days: int = Field(validation_alias="RETENTION_DAYS", default=90, ge=1)
    secret_id: str = Field(validation_alias=ENV_SECRET_ID, min_length=1)
    # Empty means any source may call (section G); the token still guards the route. A list
    # that cannot be read is not an error here: it refuses every callback (403, logged once)
    # while the status route keeps working.
    allowed_cidrs: AllowList = Field(validation_alias=ENV_ALLOWED_CIDRS, default=AllowList())

    @field_validator("allowed_cidrs", mode="before")
    @classmethod
    def _read(cls, value: object) -> object:
        return read_allow_list(value) if isinstance(value, str) else value


@cache
def settings() -> Settings:
    """Read once: the environment of a Lambda container does not change."""
    config = Settings.model_validate(dict(os.environ))
    if config.allowed_cidrs.broken is not None:
        logger.error(
            f"{ENV_ALLOWED_CIDRS} unreadable: every callback is refused (403) until it is fixed",
            extra={"reason": config.allowed_cidrs.broken},
        )
    return config
