"""Benchmark 4: DynamoDB requests per lifecycle.

What it measures: every DynamoDB request the handlers make, counted by operation with a
botocore event hook (`before-call.dynamodb`) registered on the boto3 default session before
the product makes its client (`messaggio_core.dal.clients.dynamodb()`), so any DynamoDB
client built from it is counted; for one message's whole life: one send to one recipient
through the sender handler, then a delivered, a seen and a reply report through the callbacks
handler (POST /callbacks/{token}, events/callback_*_post.json), then one status query
(GET /messages/{id}, events/status_query.json). Then opt-out: a STOP reply from that
recipient, and one batch of 25 sends (one to the opted-out phone) through the sender handler.

Baseline: the design's own minimum, which is also the target: the send is claimed before the
call and settled after it with its recipient (at most 3 item writes), and the batch's opt-out
check is one read (BatchGetItem) and no write; a report is one write with no read; a keyword
reply also reads its send's phones and writes the list's entry with the reply (one
transaction); the status is one Query.

Why it is honest: the hook sits in botocore below the product's code, so it sees each request
the product sends, whatever wrapper sent it; a TransactWriteItems is shown both as one
request and as the items it writes. The handlers run for real against moto and the sandbox,
and the answers are checked (sent and accepted, each report 200 and stored, the status
showing seen and the reply), so the counts are those of a lifecycle that worked.
"""

# PLC0415: imports inside functions, on purpose: a handler is imported only once its
# environment is set, inside the emulator.
# ruff: noqa: PLC0415

from __future__ import annotations

import json
import os
from collections import Counter
from typing import Any
from urllib.parse import urlencode

from bench.common import (
    callback_post_event,
    emulated_aws,
    figure,
    header,
    no_stdout,
    note,
    phone,
    silence,
    sqs_record,
    status_event,
    text_body,
    use_environment,
)
from messaggio_local.resources import CALLBACK_TOKEN, LOGIN, SECRET_KEY
from messaggio_local.template import function_context

WRITES = {"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"}
READS = {"GetItem", "BatchGetItem", "TransactGetItems"}
QUERIES = {"Query", "Scan"}
PTID = "bench-lifecycle-1"


class Calls:
    """The DynamoDB requests seen since the last `take()`."""

    def __init__(self) -> None:
        self.ops: Counter[str] = Counter()
        self.items_written = 0

    def __call__(self, model: Any, params: dict[str, Any], **kwargs: Any) -> None:
        """before-call: one per request; `params` is the request as serialised (JSON)."""
        name = str(model.name)
        self.ops[name] += 1
        body = params.get("body") or b"{}"
        request = json.loads(body.decode() if isinstance(body, bytes) else body)
        if name == "TransactWriteItems":
            self.items_written += len(request.get("TransactItems", []))
        elif name == "BatchWriteItem":
            self.items_written += sum(len(v) for v in request.get("RequestItems", {}).values())
        elif name in WRITES:
            self.items_written += 1

    def take(self) -> tuple[Counter[str], int]:
        ops, items = self.ops, self.items_written
        self.ops, self.items_written = Counter(), 0
        return ops, items


def main() -> None:
    use_environment(
        MESSAGGIO_RATE_LIMIT="100000",
        SENDER_MAX_CONCURRENCY="1",
        CALLBACK_ALLOWED_CIDRS="203.0.113.0/24",
    )
    import boto3

    from messaggio_core.dal.clients import reset_clients
    from messaggio_sandbox import SandboxPlatform

    header(
        4,
        "DynamoDB requests per lifecycle",
        "one send to one recipient, delivered + seen + reply reports, one status query; "
        "a STOP reply, then a batch of 25 sends",
    )
    calls = Calls()
    rows: list[tuple[str, Counter[str], int]] = []
    with SandboxPlatform(accounts={LOGIN: SECRET_KEY}) as sandbox, emulated_aws():
        os.environ["MESSAGGIO_SEND_URL"] = sandbox.send_url
        os.environ["MESSAGGIO_MEDIA_URL"] = sandbox.media_url
        from messaggio_callbacks import handler as callbacks
        from messaggio_sender import handler as sender

        silence(sender.logger)
        silence(callbacks.logger)
        # Every client made from the default session from now on carries the hook, the
        # product's included (its cached clients are forgotten, so it makes them anew).
        boto3.setup_default_session()
        assert boto3.DEFAULT_SESSION is not None
        boto3.DEFAULT_SESSION.events.register("before-call.dynamodb", calls)
        reset_clients()
        calls.take()

        with no_stdout():
            answer = sender.lambda_handler(
                {"Records": [sqs_record("bench-m1", text_body(PTID, phone(1)))]},
                function_context("SenderFunction"),
            )
        (request,) = sandbox.sends()
        if answer["batchItemFailures"] or not request.accepted:
            raise RuntimeError("the send did not go through")
        rows.append(("send (sender handler)", *calls.take()))
        msg_id = request.msg_ids[phone(1)]

        reports = {
            "delivered": {"type": "delivery", "status": "delivered"},
            "seen": {"type": "seen"},
            "reply": {"type": "reply", "text": "Thanks, see you at 5"},
            "STOP reply": {"type": "reply", "text": "STOP"},  # puts the phone on the list
        }
        for name, fields in reports.items():
            body = urlencode({"msg_id": msg_id, "p_transaction_id": PTID, **fields})
            event = callback_post_event(body)
            event["pathParameters"] = {"token": CALLBACK_TOKEN}
            with no_stdout():
                result = callbacks.lambda_handler(event, function_context("CallbacksFunction"))
            if result["statusCode"] != 200 or not json.loads(result["body"])["stored"]:
                raise RuntimeError(f"report {name}: {result['statusCode']} {result['body']}")
            rows.append((f"{name} report (callbacks handler)", *calls.take()))

        with no_stdout():
            event = status_event(PTID)
            result = callbacks.lambda_handler(event, function_context("CallbacksFunction"))
        view = json.loads(result["body"])
        (recipient,) = view["recipients"]
        if result["statusCode"] != 200 or recipient["status"] != "seen" or not recipient["replies"]:
            raise RuntimeError(f"status: {result['statusCode']} {result['body']}")
        rows.append(("status query (callbacks handler)", *calls.take()))

        batch = [sqs_record("bench-b0", text_body("bench-batch-0", phone(1)))]
        batch += [
            sqs_record(f"bench-b{i}", text_body(f"bench-batch-{i}", phone(i + 1)))
            for i in range(1, 25)
        ]
        with no_stdout():
            answer = sender.lambda_handler({"Records": batch}, function_context("SenderFunction"))
        if answer["batchItemFailures"] or len(sandbox.sends()) != 1 + 24:
            raise RuntimeError("the batch did not go through with one recipient suppressed")
        rows.append(("batch of 25 sends, 1 opted out (sender)", *calls.take()))

    targets = {
        "send": ("<= 3", "<= 1", "0"),
        "report": ("1", "0", "0"),
        "keyword": ("2", "1", "0"),
        "batch": ("<= 75", "1", "0"),
        "status": ("0", "0", "1"),
    }
    for label, ops, items in rows:
        writes = sum(n for op, n in ops.items() if op in WRITES)
        reads = sum(n for op, n in ops.items() if op in READS)
        queries = sum(n for op, n in ops.items() if op in QUERIES)
        kind = (
            "send"
            if label.startswith("send")
            else "batch"
            if label.startswith("batch")
            else "keyword"
            if label.startswith("STOP")
            else "status"
            if "status" in label
            else "report"
        )
        w, r, q = targets[kind]
        detail = ", ".join(f"{op} x{n}" for op, n in sorted(ops.items()))
        figure(
            label,
            f"W {items} R {reads} Q {queries}",
            f"design W {w} R {r} Q {q}",
            f"{writes} write request(s): {detail or 'none'}",
        )
    note(
        "W = items written (a TransactWriteItems counts each item), R = item reads, "
        "Q = queries; checked: sent and accepted, every report 200 stored, status seen + reply, "
        "the STOP stored, the batch's 24 others sent and the opted-out one not"
    )


if __name__ == "__main__":
    main()
