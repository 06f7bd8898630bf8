"""The platform credentials, from Secrets Manager through Powertools' parameters utility
(cached in the container for `max_age` seconds, so a rotated secret is picked up)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import ClassVar, Final

from aws_lambda_powertools.utilities.parameters import SecretsProvider
from aws_lambda_powertools.utilities.parameters.exceptions import (
    GetParameterError,
    TransformParameterError,
)
from botocore.exceptions import ClientError

from messaggio_core.dal.clients import client, secretsmanager
from messaggio_core.dal.common import error_code

MAX_AGE_SECONDS: Final = 300


class Secret:
    """A string that never shows itself in a repr, a log line or an error message."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get_secret_value(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True, slots=True)
class Credentials:
    """Section G's secret: {"login", "secret_key", "callback_token"} (other keys ignored).

    A dataclass read by hand, not a pydantic model: three strings do not need pydantic, and
    importing it costs the media function's cold start about 70 ms of CPU (README:
    Performance)."""

    login: str
    secret_key: Secret
    callback_token: Secret

    # Each field and its least length.
    FIELDS: ClassVar[tuple[tuple[str, int], ...]] = (
        ("login", 1),
        ("secret_key", 1),
        ("callback_token", 16),
    )

    @classmethod
    def read(cls, value: object) -> Credentials:
        """The secret's JSON value as Credentials. A malformed secret raises ValueError
        saying which fields are wrong, by name only: its own values are never quoted."""
        if not isinstance(value, dict):
            raise ValueError("not a JSON object")
        problems: list[str] = []
        for name, least in cls.FIELDS:
            field = value.get(name)
            if field is None and name not in value:
                problems.append(f"field missing: {name}")
            elif not isinstance(field, str) or len(field) < least:
                problems.append(f"field invalid: {name}")
        if problems:
            raise ValueError("; ".join(problems))
        return cls(value["login"], Secret(value["secret_key"]), Secret(value["callback_token"]))


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
        validated = Credentials.read(value)
    except ValueError as exc:
        raise CredentialsUnavailable(f"secret {secret_id}: {exc}") from None
    _validated[secret_id] = (value, validated)
    return validated


def _read_failure(exc: GetParameterError) -> str:
    """Powertools raises GetParameterError inside `except`: the AWS error is its context."""
    cause = exc.__context__
    if isinstance(cause, ClientError):
        code = error_code(cause)
        return _READ_FAILURES.get(code, f"Secrets Manager answered {code}")
    return f"Secrets Manager unreachable ({type(cause).__name__})"


def reset_secrets() -> None:
    """Forget the cached secret and its client (tests)."""
    _provider.cache_clear()
    client.cache_clear()
    _validated.clear()
