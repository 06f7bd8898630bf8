"""The platform credentials, from Secrets Manager through Powertools' parameters utility
(cached in the container for `max_age` seconds, so a rotated secret is picked up)."""

from __future__ import annotations

from functools import cache
from typing import Final

from aws_lambda_powertools.utilities.parameters import SecretsProvider
from aws_lambda_powertools.utilities.parameters.exceptions import (
    GetParameterError,
    TransformParameterError,
)
from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from messaggio_core.dal.clients import client, secretsmanager
from messaggio_core.dal.common import error_code

MAX_AGE_SECONDS: Final = 300


class Credentials(BaseModel):
    """Section G's secret: {"login", "secret_key", "callback_token"}."""

    # A malformed secret must not put its own values into an error message.
    model_config = ConfigDict(frozen=True, extra="ignore", hide_input_in_errors=True)

    login: str = Field(min_length=1)
    secret_key: SecretStr = Field(min_length=1)
    callback_token: SecretStr = Field(min_length=16)


class CredentialsUnavailable(Exception):
    """The secret could not be read or is not section G's JSON. The message says what
    failed (secret missing, access denied, not JSON, a field missing) and never quotes the
    secret's value."""


# Secrets Manager's error codes, in words an operator acts on.
_READ_FAILURES: Final = {
    "ResourceNotFoundException": "secret missing",
    "AccessDeniedException": "access denied",
    "DecryptionFailure": "cannot be decrypted (KMS)",
    "InvalidRequestException": "not readable (deleted or not yet set)",
}


@cache
def _provider() -> SecretsProvider:
    return SecretsProvider(boto3_client=secretsmanager())


_validated: dict[str, tuple[object, Credentials]] = {}


def credentials(secret_id: str) -> Credentials:
    """Called for every send: the secret comes from Powertools' cache, and is validated again
    only when that cache hands back a new value (a rotation, or max_age passed)."""
    try:
        value = _provider().get(secret_id, transform="json", max_age=MAX_AGE_SECONDS)
    except TransformParameterError:
        raise CredentialsUnavailable(f"secret {secret_id}: not JSON") from None
    except GetParameterError as exc:
        raise CredentialsUnavailable(f"secret {secret_id}: {_read_failure(exc)}") from exc
    seen = _validated.get(secret_id)
    if seen is not None and seen[0] == value:
        return seen[1]
    try:
        validated = Credentials.model_validate(value)
    except ValidationError as exc:
        raise CredentialsUnavailable(f"secret {secret_id}: {_shape_failure(exc)}") from None
    _validated[secret_id] = (value, validated)
    return validated


def _read_failure(exc: GetParameterError) -> str:
    """Powertools raises GetParameterError inside `except`: the AWS error is its context."""
    cause = exc.__context__
    if isinstance(cause, ClientError):
        code = error_code(cause)
        return _READ_FAILURES.get(code, f"Secrets Manager answered {code}")
    return f"Secrets Manager unreachable ({type(cause).__name__})"


def _shape_failure(exc: ValidationError) -> str:
    """Which fields are wrong, by name only (the model hides the input from its errors)."""
    problems: list[str] = []
    for error in exc.errors(include_input=False, include_url=False):
        where = ".".join(str(part) for part in error["loc"])
        if not where:
            problems.append("not a JSON object")
        elif error["type"] == "missing":
            problems.append(f"field missing: {where}")
        else:
            problems.append(f"field invalid: {where}")
    return "; ".join(problems)


def reset_secrets() -> None:
    """Forget the cached secret and its client (tests)."""
    _provider.cache_clear()
    client.cache_clear()
    _validated.clear()
