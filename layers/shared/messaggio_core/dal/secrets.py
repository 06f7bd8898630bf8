"""The platform credentials, from Secrets Manager through Powertools' parameters utility
(cached in the container for `max_age` seconds, so a rotated secret is picked up)."""

from __future__ import annotations

from functools import cache
from typing import Final

from aws_lambda_powertools.utilities.parameters import SecretsProvider
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from messaggio_core.dal.clients import AWS_CONFIG

MAX_AGE_SECONDS: Final = 300


class Credentials(BaseModel):
    """Section G's secret: {"login", "secret_key", "callback_token"}."""

    # A malformed secret must not put its own values into an error message.
    model_config = ConfigDict(frozen=True, extra="ignore", hide_input_in_errors=True)

    login: str = Field(min_length=1)
    secret_key: SecretStr = Field(min_length=1)
    callback_token: SecretStr = Field(min_length=16)


@cache
def _provider() -> SecretsProvider:
    return SecretsProvider(boto_config=AWS_CONFIG)


_validated: dict[str, tuple[object, Credentials]] = {}


def credentials(secret_id: str) -> Credentials:
    """Called for every send: the secret comes from Powertools' cache, and is validated again
    only when that cache hands back a new value (a rotation, or max_age passed)."""
    value = _provider().get(secret_id, transform="json", max_age=MAX_AGE_SECONDS)
    seen = _validated.get(secret_id)
    if seen is not None and seen[0] == value:
        return seen[1]
    validated = Credentials.model_validate(value)
    _validated[secret_id] = (value, validated)
    return validated


def reset_secrets() -> None:
    """Forget the cached secret and its client (tests)."""
    _provider.cache_clear()
    _validated.clear()
