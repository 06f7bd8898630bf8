"""Every function's settings in one style: a frozen dataclass whose fields name their
environment variables (`var`), read once per container by the function's own `settings()`
(functools.cache: a Lambda container's environment does not change).

Plain dataclasses, not pydantic (nor pydantic-settings): a handful of variables need a type,
a bound or a pattern, and importing pydantic costs about 70 ms of CPU in every cold start,
which the media and events functions would pay for nothing else (README: Performance).
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self

from messaggio_core.protocol.surface import ENV_MEDIA_URL, ENV_SECRET_ID

# pydantic's spellings of a boolean, which the template's values were written for.
_TRUE = frozenset({"1", "on", "t", "true", "y", "yes"})
_FALSE = frozenset({"0", "off", "f", "false", "n", "no"})


class SettingsError(ValueError):
    """One or more variables missing or wrong, each named with what is wrong. It quotes no
    value: neither the variable's nor anything else of the environment."""


def boolean(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError("not a boolean (true or false)")


def integer(value: str) -> int:
    """int(), and a whole number written with zeros after the point ("5.0"), which pydantic
    read as an integer too (a template's Number parameter may be written so)."""
    whole, point, zeros = value.strip().partition(".")
    if point and zeros and not zeros.strip("0") and whole[-1:].isdigit():
        return int(whole)
    return int(value)


@dataclass(frozen=True, slots=True)
class Var:
    """How a field is read: its variable, how its text becomes a value (raising ValueError),
    and the bounds that value must keep."""

    name: str
    parse: Callable[[str], Any]
    min_length: int | None = None
    pattern: re.Pattern[str] | None = None
    gt: float | None = None
    ge: float | None = None
    le: float | None = None

    def problem(self, value: Any) -> str | None:
        """What is wrong with a parsed value (None: nothing)."""
        if self.min_length is not None and len(value) < self.min_length:
            return "empty" if self.min_length == 1 else f"shorter than {self.min_length}"
        if self.pattern is not None and not self.pattern.match(value):
            return f"does not match {self.pattern.pattern}"
        if self.gt is not None and not value > self.gt:
            return f"not greater than {self.gt:g}"
        if self.ge is not None and not value >= self.ge:
            return f"less than {self.ge:g}"
        if self.le is not None and not value <= self.le:
            return f"greater than {self.le:g}"
        return None


def var(
    name: str,
    parse: Callable[[str], Any] = str,
    *,
    default: Any = dataclasses.MISSING,
    min_length: int | None = None,
    pattern: str | None = None,
    gt: float | None = None,
    ge: float | None = None,
    le: float | None = None,
) -> Any:
    """A settings field read from the variable `name` (required unless it has a default)."""
    compiled = re.compile(pattern) if pattern is not None else None
    spec = Var(name, parse, min_length, compiled, gt, ge, le)
    return field(default=default, metadata={"var": spec})


@dataclass(frozen=True, kw_only=True)
class FunctionSettings:
    """What every function reads: the table and how long its items are kept."""

    # Variables whose empty value is a value (an empty list), not "unset".
    KEEP_EMPTY: ClassVar[frozenset[str]] = frozenset()

    table: str = var("MESSAGES_TABLE", min_length=1)
    retention_days: int = var("RETENTION_DAYS", integer, default=90, ge=1)

    @classmethod
    def variables(cls) -> dict[str, bool]:
        """Each variable the model reads, and whether it is required."""
        return {
            f.metadata["var"].name: f.default is dataclasses.MISSING
            for f in dataclasses.fields(cls)
            if "var" in f.metadata
        }

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Self:
        """The model from its own variables only, so a refusal (SettingsError, naming each
        variable missing or wrong) quotes nothing else of the environment. An empty variable
        counts as unset (its default applies), as the template's empty AWS_ENDPOINT_URL
        does, unless the model lists it in KEEP_EMPTY."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        problems: list[str] = []
        for f in dataclasses.fields(cls):
            spec: Var | None = f.metadata.get("var")
            if spec is None:
                continue
            text = env.get(spec.name)
            if not (text or (text is not None and spec.name in cls.KEEP_EMPTY)):
                if f.default is dataclasses.MISSING:
                    problems.append(f"{spec.name}: missing")
                continue
            try:
                value = spec.parse(text)
            except ValueError as exc:
                problems.append(f"{spec.name}: {_reason(exc, spec.parse)}")
                continue
            problem = spec.problem(value)
            if problem is not None:
                problems.append(f"{spec.name}: {problem}")
                continue
            values[f.name] = value
        if problems:
            raise SettingsError(f"{cls.__name__}: " + "; ".join(problems))
        try:
            return cls(**values)
        except ValueError as exc:  # a check across fields (__post_init__)
            raise SettingsError(f"{cls.__name__}: {exc}") from None


def _reason(exc: ValueError, parse: Callable[[str], Any]) -> str:
    """int('x') and float('x') quote their input: say what was expected instead."""
    if parse in (int, integer, float):
        return f"not {'a number' if parse is float else 'an integer'}"
    return str(exc)


@dataclass(frozen=True, kw_only=True)
class PlatformSettings(FunctionSettings):
    """What a function that calls the platform reads as well (the sender, the media)."""

    secret_id: str = var(ENV_SECRET_ID, min_length=1)
    media_url: str = var(ENV_MEDIA_URL, pattern=r"^https?://")
    connect_timeout: float = var("PLATFORM_CONNECT_TIMEOUT", float, default=3.05, gt=0)
    read_timeout: float = var("PLATFORM_READ_TIMEOUT", float, default=10.0, gt=0)
    # Uploaded images older than this are uploaded again (None: an image_id stays valid).
    media_max_age_days: float | None = var("MEDIA_MAX_AGE_DAYS", float, default=None, gt=0)
