"""Benchmark 7: events throughput.

What it measures: stream records to published events per second through the events
function's real handler (`messaggio_events.handler.lambda_handler`), fed as Lambda's event
source mapping feeds it (messaggio_local.streams, the template's BatchSize), against moto
in-process with an EventBridge rule delivering every event to an SQS queue; and how many
PutEvents calls it made per 100 changes that publish.

The changes: 200 sends of three recipients, each claimed and settled as the sender does,
then a delivery, a seen and (for one in three) a reply report per recipient, as the callback
route stores them, plus one repeated report per send (no stream record: it changes nothing).

Baseline: PutEvents takes at most 10 entries, so 10 calls per 100 events is the floor; one
call per event (100 per 100) is what a handler that publishes record by record makes. The
rates have no baseline: they are reported, and include moto's own DynamoDB (one BatchGetItem
per batch) and EventBridge-to-SQS work, which real AWS does elsewhere.

Why it is honest: only the handler's invocations are timed (the writes that make the stream
are not); every event is read back from the rule's queue and counted against the stream's
changes (each send's state, each recipient's status moves, each reply).
"""

# PLC0415: imports inside functions, on purpose: a handler is imported only once its
# environment is set, inside the emulator.
# ruff: noqa: PLC0415

from __future__ import annotations

import os
import time
from typing import Any

from bench import common
from bench.common import no_stdout, silence
from messaggio_local.template import function_context, resource

SENDS = int(os.environ.get("BENCH_EVENTS_SENDS", "200"))
RECIPIENTS = 3


def main() -> None:
    common.use_environment(EVENT_BUS_NAME="default")
    import boto3

    from messaggio_core.dal.messages import MessageStore, SendMeta
    from messaggio_core.protocol.reports import parse_report
    from messaggio_core.protocol.surface import State
    from messaggio_local.moto_events import make_eventbridge_fast
    from messaggio_local.resources import capture_events
    from messaggio_local.streams import StreamSource

    common.header(
        7, "Events throughput", f"{SENDS} sends' changes through the handler to EventBridge"
    )
    make_eventbridge_fast()  # moto's own cost per delivery, not the connector's
    spec = resource("EventsFunction")["Properties"]["Events"]["TableChanges"]["Properties"]
    with common.emulated_aws():
        from bench.common import TABLE
        from messaggio_events import handler
        from messaggio_events.settings import settings

        settings.cache_clear()
        handler.deps.cache_clear()
        silence(handler.logger)
        sqs = boto3.client("sqs")
        queue = capture_events(sqs, boto3.client("events"), "bench-events", "all")
        store = MessageStore(TABLE, 90)
        expected = 0
        for s in range(SENDS):
            ptid = f"bench-{s:05d}"
            msg_ids = {f"38050{s:05d}{r:02d}": f"m-{s}-{r}" for r in range(RECIPIENTS)}
            store.claim(ptid, "c", SendMeta("text", "viber", tuple(msg_ids), None, "m"))
            store.settle(ptid, "c", State.SUBMITTED, None, msg_ids=msg_ids, phones=tuple(msg_ids))
            expected += 1
            for msg_id in msg_ids.values():
                base = {"msg_id": [msg_id], "p_transaction_id": [ptid]}
                store.record_report(
                    parse_report({**base, "type": ["delivery"], "status": ["delivered"]})
                )
                store.record_report(parse_report({**base, "type": ["seen"]}))
                expected += 2
                if s % 3 == 0:
                    store.record_report(parse_report({**base, "type": ["reply"], "text": ["ok"]}))
                    expected += 1
            store.record_report(
                parse_report({"msg_id": [f"m-{s}-0"], "p_transaction_id": [ptid], "type": ["seen"]})
            )
        source = StreamSource(
            boto3.client("dynamodbstreams"),
            boto3.client("dynamodb").describe_table(TableName=TABLE)["Table"]["LatestStreamArn"],
            batch_size=int(spec["BatchSize"]),
        )
        records = source.fetch()
        context = function_context("EventsFunction")
        spent = 0.0
        published = 0

        def invoke(event: dict[str, Any]) -> Any:
            nonlocal spent, published
            t = time.perf_counter()
            answer = handler.lambda_handler(event, context)
            spent += time.perf_counter() - t
            # read back untimed, and at once: moto's SQS slows with every message waiting
            published += drain(sqs, queue)
            return answer

        with no_stdout():
            done = source.pump(invoke)
        _, bus = handler.deps()
    if published != expected or done.given_up or done.errors:
        raise RuntimeError(f"published {published} of {expected}; {done}")
    common.figure(
        "stream records through the handler",
        f"{records / spent:,.0f}/s",
        f"{records} records in {done.invocations} invocations",
    )
    common.figure("events published", f"{published / spent:,.0f}/s", f"{published} events")
    common.figure(
        "PutEvents calls per 100 events",
        f"{bus.calls * 100 / published:.1f}",
        "one call per event: 100",
        target=">= 10 (the floor)",
    )
    common.note(f"checked: {published} events read back from the rule's queue, as expected")


def drain(sqs: Any, queue: str) -> int:
    count = 0
    while True:
        got = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
        if not got:
            return count
        count += len(got)
        common.delete_handled(sqs, queue, got)


if __name__ == "__main__":
    main()
