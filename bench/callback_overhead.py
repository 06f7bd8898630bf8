"""Benchmark 5: callback overhead.

What it measures: the time the callbacks handler (`messaggio_callbacks.handler.
lambda_handler`) takes per delivery report, from a real API Gateway event
(events/callback_delivery_post.json: POST /callbacks/{token}, a form body with an
undelivered status and its status_extended), median over 300 reports, each to a new
recipient (so each is a real write, not a repeat), against moto in-process.

Baseline: a bare `update_item` of the same shape (the same key pattern, update and
condition expressions, names and values as the store's report write) on the same moto,
through the same boto3 client, to a new recipient each time. The difference is what the
handler adds: routing, the source-address and token checks, parsing the form, validation,
one log line and one metric flush. Target: at most 1.5 times the bare write.

Why it is honest: both sides run in the same process on the same emulated table, one of
each in turn (so the table grows alike for both and machine noise falls on both); 20 of
each are run first and not counted (a warm container: imports done, client made, the
secret fetched and cached as Powertools caches it in Lambda); the handler's log line and
metrics are formatted and written as in Lambda, to /dev/null instead of CloudWatch. Every
answer is checked (200, stored). moto's own update_item cost is on both sides, so the ratio
understates the handler's share compared with real DynamoDB; the absolute difference is also
printed, which does not depend on the emulator.
"""

# PLC0415: imports inside functions, on purpose: a handler is imported only once its
# environment is set, inside the emulator.
# ruff: noqa: PLC0415

from __future__ import annotations

import os
import time
from typing import Any
from urllib.parse import urlencode

from bench import common
from bench.common import TABLE, callback_post_event, ms, no_stdout, silence
from messaggio_local.template import function_context

REPORTS = int(os.environ.get("BENCH_CALLBACK_REPORTS", "300"))
WARMUP = 20
PTID = "order-1042"


def report_event(msg_id: str) -> dict[str, Any]:
    body = urlencode(
        {
            "msg_id": msg_id,
            "p_transaction_id": PTID,
            "type": "delivery",
            "status": "undelivered",
            "status_extended": "VIBER_USER_NOT_FOUND",
        }
    )
    return callback_post_event(body)


def bare_update(client: Any, msg_id: str) -> None:
    """The store's report write (MessageStore.record_report, status path), by hand."""
    from messaggio_core.dal.common import now_iso

    now = time.time()
    client.update_item(
        TableName=TABLE,
        Key={"pk": {"S": f"TX#{PTID}"}, "sk": {"S": f"MSG#{msg_id}"}},
        UpdateExpression=(
            "SET #r = if_not_exists(#r, :iso), expires_at = if_not_exists(expires_at, :exp), "
            "status_extended = :ext"
        ),
        ConditionExpression="attribute_not_exists(#r) OR attribute_not_exists(status_extended)",
        ExpressionAttributeNames={"#r": "r_undelivered"},
        ExpressionAttributeValues={
            ":iso": {"S": now_iso(now)},
            ":exp": {"N": str(int(now + 90 * 86_400))},
            ":ext": {"S": "VIBER_USER_NOT_FOUND"},
        },
    )


def main() -> None:
    common.use_environment(CALLBACK_ALLOWED_CIDRS="203.0.113.0/24")
    from messaggio_core.dal.clients import dynamodb

    common.header(
        5,
        "Callback overhead",
        f"{REPORTS} delivery reports through the handler vs bare update_item, moto in-process",
    )
    ours: list[float] = []
    bare: list[float] = []
    with common.emulated_aws():
        from messaggio_callbacks import handler
        from messaggio_callbacks.settings import settings

        settings.cache_clear()
        silence(handler.logger)
        client = dynamodb()
        context = function_context("CallbacksFunction")
        with no_stdout():
            for i in range(WARMUP + REPORTS):
                event = report_event(f"h-{i:06d}")
                t = time.perf_counter()
                answer = handler.lambda_handler(event, context)
                elapsed = time.perf_counter() - t
                if answer["statusCode"] != 200 or '"stored": true' not in answer["body"]:
                    raise RuntimeError(f"report {i}: {answer['statusCode']} {answer['body']}")
                t2 = time.perf_counter()
                bare_update(client, f"b-{i:06d}")
                elapsed2 = time.perf_counter() - t2
                if i >= WARMUP:
                    ours.append(elapsed)
                    bare.append(elapsed2)
    h, b = common.median(ours), common.median(bare)
    common.figure(
        "handler per report (median)",
        ms(h),
        f"bare update_item {ms(b)}",
        f"{h / b:.2f}x",
        "<= 1.5x",
    )
    p90 = sorted(ours)[int(len(ours) * 0.9)]
    p90b = sorted(bare)[int(len(bare) * 0.9)]
    common.figure(
        "handler per report (90th percentile)", ms(p90), f"bare {ms(p90b)}", f"{p90 / p90b:.2f}x"
    )
    common.figure(
        "handler's own work (median difference)", ms(h - b), "independent of the emulator"
    )
    common.note(f"checked: {REPORTS} + {WARMUP} warm-up reports, each answered 200 stored")


if __name__ == "__main__":
    main()
