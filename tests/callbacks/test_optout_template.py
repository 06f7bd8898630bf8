"""Template checks for opt-out: the keyword parameters reach the function and match the
code's defaults, the routes are IAM-authorised, each function may make its new calls."""

from __future__ import annotations

from typing import Any

import pytest

from messaggio_callbacks.settings import CallbacksSettings
from messaggio_core.protocol.optout import DEFAULT_OPT_IN, DEFAULT_OPT_OUT, keyword_list
from messaggio_core.settings import SettingsError
from messaggio_local.template import resource, template


def actions(logical_id: str) -> set[str]:
    statements: list[dict[str, Any]] = []
    for policy in resource(logical_id)["Properties"]["Policies"]:
        statements += policy.get("Statement", [])  # not a managed policy's {"Ref": ...}
    return {a for s in statements if "dynamodb" in str(s["Action"]) for a in s["Action"]}


def test_the_parameters_default_to_the_codes_keywords() -> None:
    parameters = template()["Parameters"]
    assert keyword_list(parameters["OptOutKeywords"]["Default"]) == DEFAULT_OPT_OUT
    assert keyword_list(parameters["OptInKeywords"]["Default"]) == DEFAULT_OPT_IN
    env = resource("CallbacksFunction")["Properties"]["Environment"]["Variables"]
    assert env["OPT_OUT_KEYWORDS"] == {"Ref": "OptOutKeywords"}
    assert env["OPT_IN_KEYWORDS"] == {"Ref": "OptInKeywords"}


def test_the_routes_are_iam_authorised() -> None:
    events = resource("CallbacksFunction")["Properties"]["Events"]
    routes = {
        (e["Properties"]["Method"], e["Properties"]["Path"]): e["Properties"].get("Auth", {})
        for e in events.values()
    }
    for route in [
        ("GET", "/opt-outs/{phone}"),
        ("PUT", "/opt-outs/{phone}"),
        ("DELETE", "/opt-outs/{phone}"),
        ("GET", "/opt-outs"),
    ]:
        assert routes[route] == {"Authorizer": "AWS_IAM", "InvokeRole": "NONE"}, route


def test_each_function_may_make_its_opt_out_calls() -> None:
    # the sender's one read a batch
    assert "dynamodb:BatchGetItem" in actions("SenderFunction")
    # a keyword reply (GetItem + one transaction, authorised as its items' Put, Update and
    # Delete) and the routes (Get, Put, Delete, Query)
    assert {
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
        "dynamodb:Query",
    } <= actions("CallbacksFunction")
    assert "dynamodb:Scan" not in actions("CallbacksFunction")


@pytest.mark.parametrize(
    "env",
    [
        {"OPT_OUT_KEYWORDS": "STOP", "OPT_IN_KEYWORDS": "start,stop"},
        {"OPT_OUT_KEYWORDS": " , "},
    ],
)
def test_keyword_lists_that_cannot_work_are_refused(env: dict[str, str]) -> None:
    with pytest.raises(SettingsError):
        CallbacksSettings.from_environment(
            {"MESSAGES_TABLE": "t", "MESSAGGIO_SECRET_ID": "s", **env}
        )


def test_a_keyword_that_could_not_be_applied_raises_an_alarm() -> None:
    alarm = resource("OptOutUnresolvedAlarm")["Properties"]
    assert (alarm["Namespace"], alarm["MetricName"]) == ("MessaggioConnector", "OptOutUnresolved")
    assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}]
    assert alarm["Threshold"] == 0 and alarm["ComparisonOperator"] == "GreaterThanThreshold"
    body = resource("Dashboard")["Properties"]["DashboardBody"]["Fn::Sub"]
    assert "${OptOutUnresolvedAlarm.Arn}" in body
    for metric in ("OptedOut", "OptedIn", "SuppressedRecipients", "OptOutUnresolved"):
        assert f'"MessaggioConnector", "{metric}"' in body, metric
