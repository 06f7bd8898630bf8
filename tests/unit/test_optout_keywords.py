"""The opt-out rules of messaggio_core.protocol.optout: what is a keyword, what is a phone."""

from __future__ import annotations

import pytest

from messaggio_core.protocol.optout import (
    DEFAULT_KEYWORDS,
    Intent,
    InvalidPhone,
    Keywords,
    keyword_list,
    normalise_phone,
)


@pytest.mark.parametrize(
    ("reply", "keyword"),
    [
        ("STOP", "STOP"),
        ("stop", "STOP"),
        ("  Stop  ", "STOP"),
        ("Stop!", "STOP"),
        ("stop.", "STOP"),
        ("STOP!!! ", "STOP"),
        ("Stop?!…", "STOP"),
        ("unsubscribe", "UNSUBSCRIBE"),
        ("StopAll", "STOPALL"),
        ("quit\n", "QUIT"),
        ("стоп", "СТОП"),
        ("Стоп!", "СТОП"),
        ("ОТПИСАТЬСЯ.", "ОТПИСАТЬСЯ"),
        ("отписка", "ОТПИСКА"),
        ("ＳＴＯＰ", "STOP"),  # full-width letters (NFKC)
    ],
)
def test_a_whole_reply_that_is_an_opt_out_keyword_opts_out(reply: str, keyword: str) -> None:
    match = DEFAULT_KEYWORDS.match(reply)
    assert match is not None
    assert (match.intent, match.keyword) == (Intent.OPT_OUT, keyword)


@pytest.mark.parametrize(
    ("reply", "keyword"), [("start", "START"), ("Unstop!", "UNSTOP"), ("Старт", "СТАРТ")]
)
def test_a_resume_keyword_opts_in(reply: str, keyword: str) -> None:
    match = DEFAULT_KEYWORDS.match(reply)
    assert match is not None
    assert (match.intent, match.keyword) == (Intent.OPT_IN, keyword)


@pytest.mark.parametrize(
    "reply",
    [
        "don't stop",
        "Don't STOP!",
        "stop please",
        "please stop sending",
        "не стоп",
        "стоп, а когда доставка?",
        "STOP ALL",
        "!STOP",  # punctuation is ignored only after the word
        "STOPP",
        "",
        "   ",
        "Thanks! When will it arrive?",
    ],
)
def test_a_reply_that_merely_contains_a_keyword_changes_nothing(reply: str) -> None:
    assert DEFAULT_KEYWORDS.match(reply) is None


def test_configured_lists_replace_the_defaults() -> None:
    keywords = Keywords.of(keyword_list("ARRET, halt ,"), keyword_list("GO"))
    assert keywords.match("stop") is None
    assert keywords.match("start") is None
    found = keywords.match("Arret!")
    assert found is not None and found.keyword == "ARRET"
    halt = keywords.match("HALT")
    assert halt is not None and halt.intent is Intent.OPT_OUT
    go = keywords.match("go.")
    assert go is not None and go.intent is Intent.OPT_IN


def test_a_keyword_in_both_lists_is_refused() -> None:
    with pytest.raises(ValueError, match="both opt out and opt in: stop"):
        Keywords.of(("STOP",), ("start", "Stop"))


def test_an_empty_opt_out_list_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one"):
        Keywords.of(keyword_list(" , "), ("START",))


@pytest.mark.parametrize(
    ("raw", "phone"),
    [("380501234567", "380501234567"), ("+380501234567", "380501234567"), (" 1234567 ", "1234567")],
)
def test_a_phone_is_keyed_by_its_digits(raw: str, phone: str) -> None:
    assert normalise_phone(raw) == phone


@pytest.mark.parametrize(
    "raw", ["", "123456", "1" * 16, "++380501234567", "38050 1234567", "abc1234567"]
)
def test_what_is_not_a_phone_is_refused_with_the_reason(raw: str) -> None:
    with pytest.raises(InvalidPhone, match="7 to 15 digits"):
        normalise_phone(raw)
