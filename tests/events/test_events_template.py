"""template.yaml's events resources: what the function needs to be reliable and operable."""

from __future__ import annotations

from typing import Any

from messaggio_local.template import resource, template


def _source() -> dict[str, Any]:
    props: dict[str, Any] = resource("EventsFunction")["Properties"]["Events"]["TableChanges"][
        "Properties"
    ]
    return props


def test_the_table_streams_old_and_new_images() -> None:
    spec = resource("MessagesTable")["Properties"]["StreamSpecification"]
    assert spec == {"StreamViewType": "NEW_AND_OLD_IMAGES"}
    assert _source()["Stream"] == {"Fn::GetAtt": "MessagesTable.StreamArn"}


def test_the_stream_retries_are_bounded_and_end_in_an_alarmed_queue() -> None:
    source = _source()
    assert source["BisectBatchOnFunctionError"] is True
    assert 0 < source["MaximumRetryAttempts"] <= 20
    assert 60 <= source["MaximumRecordAgeInSeconds"] <= 86_400
    assert source["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert source["ParallelizationFactor"] == 1  # an item's changes stay in order
    failure = source["DestinationConfig"]["OnFailure"]
    assert failure["Type"] == "SQS"
    assert failure["Destination"] == {"Fn::GetAtt": "EventsFailureQueue.Arn"}
    alarm = resource("EventsFailureAlarm")["Properties"]
    assert alarm["Dimensions"][0]["Value"] == {"Fn::GetAtt": "EventsFailureQueue.QueueName"}
    assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}]
    assert alarm["Threshold"] == 0 and alarm["ComparisonOperator"] == "GreaterThanThreshold"


def test_the_function_publishes_to_the_parameter_bus_only() -> None:
    assert template()["Parameters"]["EventBusName"]["Default"] == "default"
    props = resource("EventsFunction")["Properties"]
    assert props["Environment"]["Variables"]["EVENT_BUS_NAME"] == {"Ref": "EventBusName"}
    assert props["Environment"]["Variables"]["POWERTOOLS_LOGGER_LOG_EVENT"] == "false"
    statements = props["Policies"][0]["Statement"]
    actions = {s["Sid"]: (s["Action"], s["Resource"]) for s in statements}
    assert actions["Publish"][0] == "events:PutEvents"
    assert "event-bus/${EventBusName}" in actions["Publish"][1]["Fn::Sub"]
    assert actions["JoinSends"] == ("dynamodb:BatchGetItem", {"Fn::GetAtt": "MessagesTable.Arn"})


def test_the_function_logs_to_a_group_with_retention() -> None:
    props = resource("EventsFunction")["Properties"]
    assert props["LoggingConfig"]["LogGroup"] == {"Ref": "EventsFunctionLogs"}
    retention = resource("EventsFunctionLogs")["Properties"]["RetentionInDays"]
    assert retention == {"Ref": "LogRetentionDays"}


def test_the_dashboard_shows_the_events_outcomes_and_lag() -> None:
    body = resource("Dashboard")["Properties"]["DashboardBody"]["Fn::Sub"]
    for line in (
        '["MessaggioConnector", "EventsPublished", "service", "messaggio-connector"]',
        '["MessaggioConnector", "EventsFailed", "service", "messaggio-connector"]',
        '["AWS/Lambda", "IteratorAge", "FunctionName", "${EventsFunction}"]',
        '"${EventsFailureAlarm.Arn}"',
    ):
        assert line in body
