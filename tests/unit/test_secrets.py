"""The credentials: validated once per value of the secret, and a rotation is picked up."""

from __future__ import annotations

import json

import boto3
import pytest

from messaggio_core.dal import secrets
from messaggio_local.resources import LOGIN
from tests.conftest import SECRET_ID


def test_validated_once_and_a_rotation_is_picked_up(secret: str) -> None:
    first = secrets.credentials(SECRET_ID)
    assert first.login == LOGIN
    assert secrets.credentials(SECRET_ID) is first  # served without validating again
    boto3.client("secretsmanager").put_secret_value(
        SecretId=SECRET_ID,
        SecretString=json.dumps({"login": "acme2", "secret_key": "k2", "callback_token": "t" * 20}),
    )
    assert secrets.credentials(SECRET_ID) is first  # Powertools' cache: max_age not passed
    secrets._provider().clear_cache()  # as when max_age passes
    rotated = secrets.credentials(SECRET_ID)
    assert rotated.login == "acme2" and rotated.secret_key.get_secret_value() == "k2"


def test_a_malformed_secret_never_shows_its_values(secret: str) -> None:
    boto3.client("secretsmanager").put_secret_value(
        SecretId=SECRET_ID,
        SecretString=json.dumps({"login": "acme", "secret_key": "hunter2", "callback_token": "x"}),
    )
    secrets._provider().clear_cache()
    with pytest.raises(secrets.CredentialsUnavailable) as info:
        secrets.credentials(SECRET_ID)
    assert str(info.value) == f"secret {SECRET_ID}: field invalid: callback_token"
    assert "hunter2" not in str(info.value) and "'x'" not in str(info.value)
