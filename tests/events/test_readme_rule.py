"""The README's example rule and consumer snippet, put on the emulated bus: only the final
statuses of its p_transaction_id prefix reach its queue."""

from __future__ import annotations

import json
import re
from typing import Any

import boto3

from messaggio_local.template import parse
from tests.conftest import ROOT
from tests.fixtures.events import Events, check_event

README = (ROOT / "README.md").read_text()


def _snippet() -> dict[str, Any]:
    found = re.search(r"```yaml\n(.*?OrderStatusRule.*?)```", README, re.DOTALL)
    assert found, "the README's consumer snippet is gone"
    resources: dict[str, Any] = parse(found[1])
    return resources


def test_the_readme_pattern_and_snippet_agree() -> None:
    found = re.search(
        r"```json\n(\{\n  \"source\": \[\"messaggio.connector\"\].*?)```", README, re.S
    )
    assert found, "the README's example pattern is gone"
    assert json.loads(found[1]) == _snippet()["OrderStatusRule"]["Properties"]["EventPattern"]


def test_the_readme_rule_delivers_final_statuses_of_its_prefix(events: Events) -> None:
    rule = _snippet()["OrderStatusRule"]["Properties"]
    sqs = boto3.client("sqs")
    url = sqs.create_queue(QueueName="order-status")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    bridge = boto3.client("events")
    bridge.put_rule(
        Name="OrderStatusRule",
        EventBusName=rule["EventBusName"],
        EventPattern=json.dumps(rule["EventPattern"]),
    )
    bridge.put_targets(
        Rule="OrderStatusRule",
        EventBusName=rule["EventBusName"],
        Targets=[{"Id": rule["Targets"][0]["Id"], "Arn": arn}],
    )
    events.send("order-7", {"380501234567": "m-1", "380671112233": "m-2"})
    events.send("invoice-3", {"380931234567": "m-3"})
    events.report(msg_id="m-1", p_transaction_id="order-7", type="delivery", status="buffered")
    events.report(msg_id="m-1", p_transaction_id="order-7", type="delivery", status="delivered")
    events.report(msg_id="m-2", p_transaction_id="order-7", status="-2")
    events.report(msg_id="m-1", p_transaction_id="order-7", type="seen")
    events.report(msg_id="m-1", p_transaction_id="order-7", type="reply", text="ok")
    events.report(msg_id="m-3", p_transaction_id="invoice-3", status="0")
    events.pump()
    got = []
    for message in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        envelope = json.loads(message["Body"])
        check_event(envelope)
        got.append((envelope["detail"]["msg_id"], envelope["detail"]["status"]))
    assert got == [("m-1", "delivered"), ("m-2", "expired"), ("m-1", "seen")]
    assert len(events.published()) == 8  # everything else still reaches the catch-all rule
