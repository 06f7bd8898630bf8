"""`LocalStack(event_sources=False)`: the stack a benchmark drives itself (bench/cold_start.py)
polls no queue, so a message sent to it stays there and no function runs."""

from __future__ import annotations

from typing import Any

import pytest

from tests.fixtures.child import answer_of
from tests.fixtures.local import tools_env

pytestmark = pytest.mark.slow

# argv: "on" or "off". Sends one message to the send queue, waits for the sender to run (at
# most 8 s: the pollers receive every second), then prints what ran and what is left on it.
CHILD = """
import json, sys, time
import boto3
from messaggio_local.stack import LocalStack
with LocalStack(log=lambda _: None, function_log=lambda *_: None,
                event_sources=sys.argv[1] == "on") as stack:
    sqs = boto3.client("sqs")
    url = stack.queues["SendQueue"]
    sqs.send_message(QueueUrl=url, MessageBody="{}")
    deadline = time.monotonic() + 8
    while time.monotonic() < deadline and "SenderFunction" not in stack.invocations:
        time.sleep(0.2)
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    left = int(attributes["ApproximateNumberOfMessages"])
    print(json.dumps({"invocations": stack.invocations, "left": left}))
"""


def stack_with(event_sources: str) -> dict[str, Any]:
    result: dict[str, Any] = answer_of(CHILD, event_sources, env=tools_env())
    return result


def test_without_event_sources_a_queued_message_is_left_alone() -> None:
    assert stack_with("off") == {"invocations": {}, "left": 1}
    # the control: the same stack with its event sources runs the sender on the message
    assert stack_with("on")["invocations"].get("SenderFunction") == 1
