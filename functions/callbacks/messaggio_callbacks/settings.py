"""The function's configuration, read from its environment once per container.

Plain pydantic (not pydantic-settings) on purpose: the shared layer already carries pydantic,
and one more package in every cold start buys nothing for four variables.
"""

from __future__ import annotations

import os
from functools import cache
from ipaddress import IPv4Network, IPv6Network, ip_network

from pydantic import BaseModel, ConfigDict, Field, field_validator

from messaggio_core.protocol.surface import ENV_ALLOWED_CIDRS, ENV_SECRET_ID

type Network = IPv4Network | IPv6Network


class Settings(BaseModel):
    """MESSAGES_TABLE, RETENTION_DAYS, MESSAGGIO_SECRET_ID, CALLBACK_ALLOWED_CIDRS."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    messages_table: str = Field(validation_alias="MESSAGES_TABLE", min_length=1)
    retention_days: int = Field(validation_alias="RETENTION_DAYS", default=90, ge=1)
    secret_id: str = Field(validation_alias=ENV_SECRET_ID, min_length=1)
    # Empty means any source may call (section G); the token still guards the route.
    allowed_cidrs: tuple[Network, ...] = Field(validation_alias=ENV_ALLOWED_CIDRS, default=())

    @field_validator("allowed_cidrs", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        """ "a, b" -> networks; a /0 range (the template's default 0.0.0.0/0) allows any,
        which is the empty tuple, so there is one way of saying it."""
        if not isinstance(value, str):
            return value
        networks = [
            ip_network(part.strip(), strict=False) for part in value.split(",") if part.strip()
        ]
        if any(network.prefixlen == 0 for network in networks):
            return ()
        return tuple(networks)


@cache
def settings() -> Settings:
    """Read once: the environment of a Lambda container does not change."""
    return Settings.model_validate(dict(os.environ))
