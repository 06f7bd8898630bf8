"""The function's settings: CALLBACK_ALLOWED_CIDRS as section G says, read once."""

from __future__ import annotations

from ipaddress import ip_network

import pytest
from pydantic import ValidationError

from messaggio_callbacks.domain import source_allowed
from messaggio_callbacks.settings import Settings, settings

BASE = {"MESSAGES_TABLE": "t", "MESSAGGIO_SECRET_ID": "s"}


@pytest.mark.parametrize("value", ["", " ", "0.0.0.0/0", "203.0.113.0/24,0.0.0.0/0", "::/0"])
def test_empty_or_everything_allows_any(value: str) -> None:
    assert Settings.model_validate({**BASE, "CALLBACK_ALLOWED_CIDRS": value}).allowed_cidrs == ()


def test_ranges_are_parsed_and_host_bits_forgiven() -> None:
    config = Settings.model_validate(
        {**BASE, "CALLBACK_ALLOWED_CIDRS": "203.0.113.10/24, 198.51.100.7,2001:db8::/32"}
    )
    assert config.allowed_cidrs == (
        ip_network("203.0.113.0/24"),
        ip_network("198.51.100.7/32"),
        ip_network("2001:db8::/32"),
    )
    assert source_allowed("198.51.100.7", config.allowed_cidrs)
    assert source_allowed("2001:db8::1", config.allowed_cidrs)
    assert not source_allowed("198.51.100.8", config.allowed_cidrs)
    assert not source_allowed(None, config.allowed_cidrs)


@pytest.mark.parametrize(
    "env",
    [
        {**BASE, "CALLBACK_ALLOWED_CIDRS": "203.0.113.0/33"},
        {**BASE, "CALLBACK_ALLOWED_CIDRS": "platform.example"},
        {"MESSAGGIO_SECRET_ID": "s"},
        {**BASE, "RETENTION_DAYS": "0"},
    ],
)
def test_a_broken_configuration_is_refused(env: dict[str, str]) -> None:
    with pytest.raises(ValidationError):
        Settings.model_validate(env)


def test_settings_are_read_once(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {**BASE, "RETENTION_DAYS": "7", "CALLBACK_ALLOWED_CIDRS": ""}.items():
        monkeypatch.setenv(name, value)
    settings.cache_clear()
    try:
        first = settings()
        monkeypatch.setenv("RETENTION_DAYS", "8")
        assert settings() is first and first.retention_days == 7
    finally:
        settings.cache_clear()
