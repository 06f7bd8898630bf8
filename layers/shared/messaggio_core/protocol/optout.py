"""Opt-out: which replies put a phone on the suppression list or take it off, and what a
phone on the list is. [ours] every rule here: the platform's document knows no opt-out (a
reply is just text, section E); carriers treat STOP account-wide, and so do we.

A reply is a keyword only when its whole text is one: trimmed, compared case-insensitively
(Unicode case folding, so СТОП = стоп), any trailing punctuation ignored ("Stop!", "stop."). A
sentence that merely contains the word ("don't stop", "stop please") is not a keyword: a
subscriber who writes a sentence is talking to a person, not unsubscribing.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from messaggio_core.protocol.ids import PHONE_PATTERN

# [ours] the defaults (template parameters OptOutKeywords / OptInKeywords replace them): the
# carriers' English set and the Russian words subscribers use.
DEFAULT_OPT_OUT: Final = (
    "STOP",
    "STOPALL",
    "UNSUBSCRIBE",
    "CANCEL",
    "END",
    "QUIT",
    "СТОП",
    "ОТПИСАТЬСЯ",
    "ОТПИСКА",
)
DEFAULT_OPT_IN: Final = ("START", "UNSTOP", "СТАРТ")

# [ours] the reason of a send whose every recipient is on the list, and the status shown for
# a suppressed recipient in GET /messages/{id}.
OPTED_OUT: Final = "opted_out"

# [ours] how a keyword list is written in a template parameter: comma-separated.
_SEPARATOR: Final = re.compile(r"\s*,\s*")


class Intent(StrEnum):
    OPT_OUT = "opt_out"
    OPT_IN = "opt_in"


@dataclass(frozen=True, slots=True)
class KeywordMatch:
    intent: Intent
    keyword: str  # as configured (upper case), never the subscriber's own text


class InvalidPhone(ValueError):
    """A path's phone that cannot be a phone number: 400 with this reason."""


def canonical(text: str) -> str:
    """A reply reduced to what is compared: NFKC, trimmed, trailing punctuation dropped,
    case-folded."""
    text = unicodedata.normalize("NFKC", text).strip()
    while text and _trailing(text[-1]):
        text = text[:-1]
    return text.casefold()


def _trailing(char: str) -> bool:
    """[ours] what may follow a keyword: whitespace and punctuation (Unicode P*: . ! ? … »)."""
    return char.isspace() or unicodedata.category(char).startswith("P")


@dataclass(frozen=True, slots=True)
class Keywords:
    """The account's keyword lists, canonical form -> the keyword as configured."""

    opt_out: dict[str, str]
    opt_in: dict[str, str]

    @classmethod
    def of(cls, opt_out: tuple[str, ...], opt_in: tuple[str, ...]) -> Keywords:
        outs = {canonical(k): k.strip().upper() for k in opt_out if canonical(k)}
        ins = {canonical(k): k.strip().upper() for k in opt_in if canonical(k)}
        both = sorted(set(outs) & set(ins))
        if both:
            raise ValueError(f"a keyword cannot both opt out and opt in: {', '.join(both)}")
        if not outs:
            raise ValueError("at least one opt-out keyword is required")
        return cls(outs, ins)

    def match(self, reply: str) -> KeywordMatch | None:
        key = canonical(reply)
        if key in self.opt_out:
            return KeywordMatch(Intent.OPT_OUT, self.opt_out[key])
        if key in self.opt_in:
            return KeywordMatch(Intent.OPT_IN, self.opt_in[key])
        return None


DEFAULT_KEYWORDS: Final = Keywords.of(DEFAULT_OPT_OUT, DEFAULT_OPT_IN)


def keyword_list(value: str) -> tuple[str, ...]:
    """A template parameter's comma-separated list."""
    return tuple(part for part in _SEPARATOR.split(value.strip()) if part)


def normalise_phone(raw: str) -> str:
    """A phone as the list keys it: digits only. [ours] one leading '+' and surrounding
    spaces are accepted and dropped (as a send's phone is sent: digits, section A)."""
    phone = raw.strip().removeprefix("+")
    if not PHONE_PATTERN.fullmatch(phone):
        raise InvalidPhone("phone: must be 7 to 15 digits, optionally after one '+'")
    return phone
