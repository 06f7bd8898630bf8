"""The local stack as a user runs it: a subprocess, reached only through SQS, S3 and HTTP."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import png
from tests.fixtures.events import check_event
from tests.fixtures.local import client, up, wait

pytestmark = pytest.mark.slow


def test_full_lifecycle_through_public_interfaces(tmp_path: Path) -> None:
    for stack in up(tmp_path):
        client("s3", stack).put_object(Bucket=stack["media_bucket"], Key="a.png", Body=png(42))
        body = {
            "sending_method": "viber",
            "from": "MyShop",
            "phone": ["380501234567"],
            "txt": "Hello",
            "image": f"s3://{stack['media_bucket']}/a.png",
            "button_text": "Go",
            "button_link": "https://x.example",
            "p_transaction_id": "e2e-1",
        }
        client("sqs", stack).send_message(
            QueueUrl=stack["send_queue_url"], MessageBody=json.dumps(body)
        )

        def replied(stack: dict[str, str] = stack) -> dict[str, Any] | None:
            answer = requests.get(f"{stack['api_url']}/messages/e2e-1", timeout=5)
            if answer.status_code != 200:
                return None
            view: dict[str, Any] = answer.json()
            recipients = view["recipients"]
            return view if recipients and recipients[0]["replies"] else None

        # the sender submitted to the sandbox, which called the callback route with
        # delivered, seen and a reply (`up`'s default scenario)
        view = wait(replied)
        assert view["state"] == "submitted" and view["kind"] == "text+picture+button"
        (recipient,) = view["recipients"]
        assert recipient["msg_id"] and recipient["phone"] == "380501234567"
        assert recipient["status"] == "seen"
        assert [r["text"] for r in recipient["replies"]] == ["Thanks"]
        # a forged report through the same public route is refused, and changes nothing
        forged = stack["callback_url"].rsplit("/", 1)[0] + "/wrong-token"
        answer = requests.post(
            forged, data={"msg_id": "x", "p_transaction_id": "e2e-1", "status": "0"}, timeout=5
        )
        assert answer.status_code == 403
        missing = requests.get(f"{stack['api_url']}/messages/nope", timeout=5)
        assert missing.status_code == 404
        # the table's stream went through the events function to the bus, and the local
        # rule delivered each event to the events queue
        sqs = client("sqs", stack)
        events: list[dict[str, Any]] = []

        def heard(
            sqs: Any = sqs, url: str = stack["events_queue_url"], events: list[Any] = events
        ) -> bool:
            got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
            events.extend(json.loads(message["Body"]) for message in got)
            return any(e["detail-type"] == "Reply Received" for e in events) and any(
                e["detail"].get("status") == "seen" for e in events
            )

        wait(heard)
        for envelope in events:
            check_event(envelope)
        assert events[0]["detail-type"] == "Send State Changed"
        statuses = [e["detail"]["status"] for e in events if "status" in e["detail"]]
        assert statuses == ["delivered", "seen"]
        assert {e["detail"]["p_transaction_id"] for e in events} == {"e2e-1"}


def test_a_send_that_keeps_failing_ends_in_the_dead_letter_queue(tmp_path: Path) -> None:
    dead = "http://127.0.0.1:9/send"  # nothing listens: every try is "not sent", retried
    # Visibility longer than an invocation, as in the template (180 s against 30 s): a record
    # is never handed out again while one is still trying it.
    extra = ("--send-url", dead, "--param", "SendMaxReceiveCount=2", "--visibility", "4")
    for stack in up(tmp_path, *extra):
        sqs = client("sqs", stack)
        sqs.send_message(
            QueueUrl=stack["send_queue_url"],
            MessageBody=json.dumps(
                {
                    "sending_method": "sms",
                    "from": "MyShop",
                    "phone": ["380501234567"],
                    "txt": "Hello",
                    "p_transaction_id": "e2e-dlq",
                }
            ),
        )

        def in_dlq(sqs: Any = sqs, stack: dict[str, str] = stack) -> list[Any]:
            got = sqs.receive_message(
                QueueUrl=stack["dead_letter_queue_url"], WaitTimeSeconds=1
            ).get("Messages", [])
            return list(got)

        (message,) = wait(in_dlq)
        assert json.loads(message["Body"])["p_transaction_id"] == "e2e-dlq"
        view = requests.get(f"{stack['api_url']}/messages/e2e-dlq", timeout=5).json()
        # its last attempt failed too: the status says so, not "will be retried"
        assert view["state"] == "failed" and view["attempts"] == 2
        assert "not sent" in view["reason"]


def test_an_opted_out_phone_is_never_sent(tmp_path: Path) -> None:
    """PUT /opt-outs/{phone} over HTTP, then a send to it: rejected `opted_out`, and the
    export lists the phone; DELETE takes it off."""
    for stack in up(tmp_path):
        phone = "380501234567"
        added = requests.put(f"{stack['api_url']}/opt-outs/%2B{phone}", timeout=5)
        assert added.status_code == 201 and added.json()["phone"] == phone
        client("sqs", stack).send_message(
            QueueUrl=stack["send_queue_url"],
            MessageBody=json.dumps(
                {
                    "sending_method": "sms",
                    "from": "MyShop",
                    "phone": [phone],
                    "txt": "Hello",
                    "p_transaction_id": "e2e-opted-out",
                }
            ),
        )

        def settled(stack: dict[str, str] = stack) -> dict[str, Any] | None:
            """The view once the send is settled (claimed first, it shows `sending` a moment)."""
            answer = requests.get(f"{stack['api_url']}/messages/e2e-opted-out", timeout=5)
            view = answer.json() if answer.status_code == 200 else None
            return view if view is not None and view["state"] != "sending" else None

        view = wait(settled)
        assert (view["state"], view["reason"]) == ("rejected", "opted_out")
        assert [r["status"] for r in view["recipients"]] == ["opted_out"]
        page = requests.get(f"{stack['api_url']}/opt-outs", timeout=5).json()
        assert [e["phone"] for e in page["opt_outs"]] == [phone] and page["next"] is None
        assert requests.delete(f"{stack['api_url']}/opt-outs/{phone}", timeout=5).status_code == 204
