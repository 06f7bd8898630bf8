"""Every function's settings in one style (messaggio_core.settings): each model reads the
variables its template section sets, a missing or broken one is refused by name, and an
empty one counts as unset."""

from __future__ import annotations

import pytest

from messaggio_callbacks.settings import CallbacksSettings
from messaggio_core.settings import FunctionSettings, SettingsError
from messaggio_events.settings import EventsSettings
from messaggio_local.template import resource, template
from messaggio_media.settings import MediaSettings
from messaggio_sender.settings import SenderSettings

MODELS: dict[str, type[FunctionSettings]] = {
    "SenderFunction": SenderSettings,
    "CallbacksFunction": CallbacksSettings,
    "MediaFunction": MediaSettings,
    "EventsFunction": EventsSettings,
}
# Read by Powertools and the AWS SDK, not by the functions' settings.
NOT_OURS = ("POWERTOOLS_", "AWS_")


def variables(model: type[FunctionSettings]) -> set[str]:
    return set(model.variables())


def required(model: type[FunctionSettings]) -> set[str]:
    return {name for name, needed in model.variables().items() if needed}


@pytest.mark.parametrize("function", MODELS)
def test_each_model_reads_what_its_template_section_sets(function: str) -> None:
    model = MODELS[function]
    own = set(resource(function)["Properties"]["Environment"]["Variables"])
    shared = set(template()["Globals"]["Function"]["Environment"]["Variables"])
    assert {v for v in own if not v.startswith(NOT_OURS)} <= variables(model), "set in vain"
    assert required(model) <= own | shared, "required, never set"


ENV = {
    "MESSAGES_TABLE": "messages",
    "MESSAGGIO_SECRET_ID": "messaggio/connector",
    "MESSAGGIO_SEND_URL": "https://platform.example/send",
    "MESSAGGIO_MEDIA_URL": "https://platform.example/media",
}


@pytest.mark.parametrize("model", MODELS.values())
def test_a_missing_variable_is_refused_by_name_quoting_nothing_else(
    model: type[FunctionSettings],
) -> None:
    for name in sorted(required(model)):
        env = {**ENV, "UNRELATED_SECRET": "do-not-quote"}
        del env[name]
        with pytest.raises(SettingsError) as refused:
            model.from_environment(env)
        assert f"{name}: missing" in str(refused.value)
        assert "do-not-quote" not in str(refused.value)


@pytest.mark.parametrize(
    ("model", "name", "value"),
    [
        (SenderSettings, "SENDER_WORKERS", "0"),
        (SenderSettings, "MESSAGGIO_SEND_URL", "ftp://platform.example/send"),
        (MediaSettings, "PLATFORM_READ_TIMEOUT", "soon"),
        (EventsSettings, "RETENTION_DAYS", "0"),
        (CallbacksSettings, "OPT_OUT_KEYWORDS", ""),
    ],
)
def test_a_broken_variable_is_refused_by_name(
    model: type[FunctionSettings], name: str, value: str
) -> None:
    with pytest.raises(SettingsError) as refused:
        model.from_environment({**ENV, name: value})
    assert name in str(refused.value)
    assert not value or value not in str(refused.value), "the value is not quoted"


def test_an_empty_variable_counts_as_unset() -> None:
    env = {**ENV, "MEDIA_MAX_AGE_DAYS": "", "RETENTION_DAYS": "", "SEND_MAX_RECEIVE_COUNT": ""}
    config = SenderSettings.from_environment(env)
    assert config.media_max_age_days is None and config.max_receive_count is None
    assert config.retention_days == 90
    assert EventsSettings.from_environment({**ENV, "EVENT_BUS_NAME": ""}).event_bus_name == (
        "default"
    )


def test_an_empty_keyword_list_is_a_list() -> None:
    """OPT_IN_KEYWORDS empty: no resume keyword, not the defaults."""
    config = CallbacksSettings.from_environment({**ENV, "OPT_IN_KEYWORDS": ""})
    assert config.opt_in_keywords == ()
    assert CallbacksSettings.from_environment(ENV).opt_in_keywords != ()


def test_a_whole_number_written_with_a_decimal_point_is_an_integer() -> None:
    """As pydantic read them: "5.0" is 5 (a template's Number may be written so), "5.5" and
    "5." are not integers."""
    env = {**ENV, "RETENTION_DAYS": "30.0", "SENDER_MAX_CONCURRENCY": " 4.00 "}
    config = SenderSettings.from_environment(env)
    assert (config.retention_days, config.max_concurrency) == (30, 4)
    for value in ("5.5", "5.", ".0", "5 .0", "5.0e0"):
        with pytest.raises(SettingsError, match=r"SENDER_WORKERS: not an integer$"):
            SenderSettings.from_environment({**ENV, "SENDER_WORKERS": value})
