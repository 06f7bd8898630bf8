"""Every function's settings in one style: a pydantic model whose fields name their
environment variables (`validation_alias`), read once per container by the function's own
`settings()` (functools.cache: a Lambda container's environment does not change).

Plain pydantic (not pydantic-settings) on purpose: the layer already carries pydantic, and
one more package in every cold start buys nothing for a handful of variables.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import ClassVar, Self

from pydantic import BaseModel, ConfigDict, Field

from messaggio_core.protocol.surface import ENV_MEDIA_URL, ENV_SECRET_ID


class FunctionSettings(BaseModel):
    """What every function reads: the table and how long its items are kept."""

    model_config = ConfigDict(frozen=True)

    # Variables whose empty value is a value (an empty list), not "unset".
    KEEP_EMPTY: ClassVar[frozenset[str]] = frozenset()

    table: str = Field(validation_alias="MESSAGES_TABLE", min_length=1)
    retention_days: int = Field(validation_alias="RETENTION_DAYS", default=90, ge=1)

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Self:
        """The model from its own variables only, so a refusal (pydantic's ValidationError,
        naming each variable missing or wrong) quotes nothing else of the environment. An
        empty variable counts as unset (its default applies), as the template's empty
        AWS_ENDPOINT_URL does, unless the model lists it in KEEP_EMPTY."""
        env = os.environ if environ is None else environ
        values: dict[str, str] = {}
        for field in cls.model_fields.values():
            name = field.validation_alias
            assert isinstance(name, str), "every field names its variable"
            value = env.get(name)
            if value or (value is not None and name in cls.KEEP_EMPTY):
                values[name] = value
        return cls.model_validate(values)


class PlatformSettings(FunctionSettings):
    """What a function that calls the platform reads as well (the sender, the media)."""

    secret_id: str = Field(validation_alias=ENV_SECRET_ID, min_length=1)
    media_url: str = Field(validation_alias=ENV_MEDIA_URL, pattern=r"^https?://")
    connect_timeout: float = Field(validation_alias="PLATFORM_CONNECT_TIMEOUT", default=3.05, gt=0)
    read_timeout: float = Field(validation_alias="PLATFORM_READ_TIMEOUT", default=10.0, gt=0)
    # Uploaded images older than this are uploaded again (None: an image_id stays valid).
    media_max_age_days: float | None = Field(
        validation_alias="MEDIA_MAX_AGE_DAYS", default=None, gt=0
    )
