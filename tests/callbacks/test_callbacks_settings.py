"""The function's settings: CALLBACK_ALLOWED_CIDRS as section G says, read once."""

from __future__ import annotations

from ipaddress import ip_network

import pytest

from messaggio_callbacks.domain import AllowList, source_allowed
from messaggio_callbacks.settings import CallbacksSettings, settings
from messaggio_core.settings import SettingsError

BASE = {"MESSAGES_TABLE": "t", "MESSAGGIO_SECRET_ID": "s"}


def _allow_list(value: str) -> AllowList:
    return CallbacksSettings.from_environment(
        {**BASE, "CALLBACK_ALLOWED_CIDRS": value}
    ).allowed_cidrs


@pytest.mark.parametrize("value", ["", " ", " , "])
def test_an_empty_list_allows_any(value: str) -> None:
    allowed = _allow_list(value)
    assert allowed == AllowList()
    assert allowed.allows("198.51.100.7") and allowed.allows("2001:db8::1")


def test_ranges_and_addresses_are_parsed() -> None:
    allowed = _allow_list("203.0.113.0/24, 198.51.100.7,2001:db8::/32")
    assert allowed.networks == (
        ip_network("203.0.113.0/24"),
        ip_network("198.51.100.7/32"),
        ip_network("2001:db8::/32"),
    )
    assert allowed.allows("198.51.100.7") and allowed.allows("203.0.113.200")
    assert allowed.allows("2001:db8::1")
    assert not allowed.allows("198.51.100.8")
    assert not allowed.allows(None)
    assert source_allowed("198.51.100.7", allowed.networks)


def test_each_family_allows_only_its_own_addresses() -> None:
    """::/0 is every IPv6 address and no IPv4 one (it used to mean "anyone")."""
    ipv6 = _allow_list("::/0")
    assert ipv6.allows("2001:db8::1") and not ipv6.allows("203.0.113.10")
    ipv4 = _allow_list("0.0.0.0/0")
    assert ipv4.allows("203.0.113.10") and not ipv4.allows("2001:db8::1")
    both = _allow_list("0.0.0.0/0,::/0")
    assert both.allows("203.0.113.10") and both.allows("2001:db8::1")


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("203.0.113.7/24", "has host bits set"),
        ("203.0.113.0/24,198.51.100.1/16", "has host bits set"),
        ("2001:db8::1/32", "has host bits set"),
        ("203.0.113.0/33", "203.0.113.0/33"),
        ("platform.example", "platform.example"),
        ("203.0.113.0/24;198.51.100.0/24", "203.0.113.0/24;198.51.100.0/24"),
    ],
)
def test_a_malformed_entry_allows_no_one_and_says_why(value: str, says: str) -> None:
    """Never silently widened (203.0.113.7/24 is not taken as 203.0.113.0/24), never a 500."""
    allowed = _allow_list(value)
    assert allowed.broken is not None and says in allowed.broken
    assert allowed.networks == ()
    for source in ("203.0.113.7", "203.0.113.10", "198.51.100.1", "2001:db8::1"):
        assert not allowed.allows(source)


@pytest.mark.parametrize(
    "env",
    [
        {"MESSAGGIO_SECRET_ID": "s"},
        {**BASE, "RETENTION_DAYS": "0"},
    ],
)
def test_a_broken_configuration_is_refused(env: dict[str, str]) -> None:
    with pytest.raises(SettingsError):
        CallbacksSettings.from_environment(env)


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
