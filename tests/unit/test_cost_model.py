"""`make cost`'s arithmetic (bench/cost.py), against figures worked out by hand from a price
table: the measured counts go in, each bill line must be the hand-computed dollars."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest

from bench.cost import (
    PRICES,
    Call,
    Counts,
    FunctionUse,
    Line,
    bill,
    container,
    dynamodb_units,
    item_size,
    per_message,
    total,
)

# The shipped table's shape with round prices, so the sums below are easy to check by hand
# (and a user's edit of the shipped table does not change what this tests).
PRICES_BY_HAND: dict[str, Any] = {
    "lambda": {"requests_per_million": 0.20, "gb_second": {"arm64": 0.00001, "x86_64": 0.00002}},
    "sqs": {"requests_per_million": 0.40},
    "dynamodb": {
        "write_request_units_per_million": 0.70,
        "read_request_units_per_million": 0.14,
        "stream_read_requests_per_100k": 0.02,
        "stream_reads_by_lambda_free": True,
        "storage_gb_month": 0.25,
    },
    "api_gateway_rest": {"requests_per_million": 3.50},
    "secrets_manager": {"api_calls_per_10k": 0.05, "secret_month": 0.40},
    "cloudwatch": {
        "logs_ingested_per_gb": 0.50,
        "custom_metric_month": 0.30,
        "dashboard_month": 3.00,
        "alarm_month": 0.10,
    },
    "kms": {"key_month": 1.00, "requests_per_10k": 0.03},
    "eventbridge": {"custom_events_per_million": 1.00},
    "fargate": {
        "arm64": {"vcpu_hour": 0.04, "gb_hour": 0.004},
        "x86_64": {"vcpu_hour": 0.05, "gb_hour": 0.005},
        "smallest": {"vcpu": 0.25, "gb": 0.5},
    },
    "alb": {"hour": 0.025, "lcu_hour": 0.008},
    "hours_per_month": 730,
}


def counts() -> Counts:
    """100 messages' counts (so every figure is scaled by 10,000 to a million)."""
    return Counts(
        messages=100,
        architecture="arm64",
        functions={
            "SenderFunction": FunctionUse(
                invocations=4, billed_ms=20_000, memory_mb=512, log_bytes=50_000
            ),
            "CallbacksFunction": FunctionUse(
                invocations=202,
                billed_ms=202 * 40,
                memory_mb=1024,
                log_bytes=150_000,
                platform_log_bytes=53_687,
            ),
        },
        sqs_requests=Counter(ReceiveMessage=12, DeleteMessageBatch=10, SendMessage=100),
        write_units={"SenderFunction": 200, "CallbacksFunction": 202},
        read_units={"SenderFunction": 2, "EventsFunction": 30.5},
        stream_reads=50,
        api_requests=202,
        secret_calls_per_million=3000,
        events=300,
        item_bytes=107_374,
        custom_metrics=5,
        dashboards=1,
        alarms=6,
        kms_keys=1,
    )


def by_item(lines: list[Line]) -> dict[str, float]:
    return {line.item: line.dollars for line in lines}


def test_each_line_of_the_bill_is_the_hand_computed_figure() -> None:
    got = by_item(bill(counts(), PRICES_BY_HAND))
    # 206 invocations x 10,000 = 2.06 M requests at $0.20 a million
    assert got["Lambda requests"] == pytest.approx(0.412)
    # sender 20 s x 0.5 GB = 10 GB-s; callbacks 8.08 s x 1 GB = 8.08 GB-s; 18.08 x 10,000
    # = 180,800 GB-s at $0.00001
    assert got["Lambda GB-seconds (arm64)"] == pytest.approx(1.808)
    # 122 requests x 10,000 = 1.22 M at $0.40
    assert got["SQS requests"] == pytest.approx(0.488)
    # 402 WRU x 10,000 = 4.02 M at $0.70; 32.5 RRU x 10,000 = 325,000 at $0.14
    assert got["DynamoDB writes (on-demand)"] == pytest.approx(2.814)
    assert got["DynamoDB reads (on-demand)"] == pytest.approx(0.0455)
    assert got["DynamoDB stream reads"] == 0  # read by Lambda: free
    # 107,374 B x 10,000 = 1.0000 GiB at $0.25
    assert got["DynamoDB storage (a month)"] == pytest.approx(0.25, rel=1e-4)
    # 2.02 M at $3.50
    assert got["API Gateway REST requests"] == pytest.approx(7.07)
    # 3,000 calls (already per million) at $0.05 / 10,000; the same decrypts at $0.03
    assert got["Secrets Manager calls"] == pytest.approx(0.015)
    assert got["KMS requests"] == pytest.approx(0.009)
    # (50,000 + 150,000 + 53,687) B x 10,000 = 2.5369e9 B = 2.3627 GiB at $0.50
    assert got["CloudWatch Logs ingestion"] == pytest.approx(1.18133, rel=1e-4)
    # 300 x 10,000 = 3 M at $1
    assert got["EventBridge events"] == pytest.approx(3.0)
    # 5 x 0.30 + 3.00 + 6 x 0.10 + 0.40 + 1.00
    assert got["Monthly: metrics, dashboard, alarms, secret, KMS key"] == pytest.approx(6.50)
    per_million, monthly = total(bill(counts(), PRICES_BY_HAND))
    assert per_million == pytest.approx(
        0.412 + 1.808 + 0.488 + 2.814 + 0.0455 + 0.25 + 7.07 + 0.015 + 0.009 + 1.18133 + 3.0,
        rel=1e-4,
    )
    assert monthly == pytest.approx(6.50)


def test_x86_64_is_billed_at_its_own_rate() -> None:
    x86 = counts()
    x86.architecture = "x86_64"
    assert by_item(bill(x86, PRICES_BY_HAND))["Lambda GB-seconds (x86_64)"] == pytest.approx(3.616)


def test_a_lambda_per_message_replaces_the_senders_use_and_its_queue_requests() -> None:
    """10 single sends measured: 10 invocations of 100 ms at 512 MB, 2 WRU and 1 RRU each."""
    single = Counts(messages=10, architecture="arm64")
    single.write_units = {"SenderFunction": 20}
    single.read_units = {"SenderFunction": 5}
    sender = FunctionUse(invocations=10, billed_ms=1000, memory_mb=512, log_bytes=4000)
    got = per_message(counts(), sender, single)
    assert got.functions["SenderFunction"] == FunctionUse(100, 10_000, 512, 40_000, 0)
    assert got.functions["CallbacksFunction"] == counts().functions["CallbacksFunction"]
    assert got.sqs_requests == Counter(ReceiveMessage=100, DeleteMessage=100, SendMessage=100)
    assert got.write_units == {"SenderFunction": 200, "CallbacksFunction": 202}
    assert got.read_units == {"SenderFunction": 50, "EventsFunction": 30.5}
    lines = by_item(bill(got, PRICES_BY_HAND))
    # 302 invocations x 10,000 at $0.20 a million
    assert lines["Lambda requests"] == pytest.approx(0.604)
    # sender 10 s x 0.5 GB + callbacks 8.08 GB-s, x 10,000 at $0.00001
    assert lines["Lambda GB-seconds (arm64)"] == pytest.approx(1.308)


def test_the_container_is_the_smallest_task_that_holds_the_rate() -> None:
    small = by_item(container(counts(), PRICES_BY_HAND, vcpu_needed=0.1))
    # 0.25 vCPU, 0.5 GB: 730 h x (0.25 x 0.04 + 0.5 x 0.004) = 730 x 0.012
    assert small["Fargate task (arm64)"] == pytest.approx(8.76)
    assert small["Load balancer for the reports"] == pytest.approx(730 * 0.033)
    assert "Lambda requests" not in small
    assert not any(item.startswith("Lambda GB") for item in small)
    assert "API Gateway REST requests" not in small
    # only the functions' own lines: 200,000 B x 10,000 = 1.8626 GiB at $0.50
    assert small["CloudWatch Logs ingestion"] == pytest.approx(0.93132, rel=1e-4)
    larger = by_item(container(counts(), PRICES_BY_HAND, vcpu_needed=0.6))
    # 1 vCPU, 2 GB: 730 x (0.04 + 0.008)
    assert larger["Fargate task (arm64)"] == pytest.approx(35.04)


def test_dynamodb_units_follow_item_sizes() -> None:
    item = {"pk": {"S": "TX#order-1"}, "sk": {"S": "SEND"}, "n": {"N": "12345"}}
    assert item_size(item) == 2 + 10 + 2 + 4 + 1 + 4  # names + values; N: 5 digits = 4 B
    big = {"pk": {"S": "x"}, "blob": {"S": "y" * 3000}}  # 3 KB: 3 write units
    put = Call("f", "dynamodb", "PutItem", {"TableName": "t", "Item": big}, {}, 0)
    assert dynamodb_units(put, {}) == (3, 0)
    get = Call("f", "dynamodb", "GetItem", {"TableName": "t"}, {"Item": big}, 0)
    assert dynamodb_units(get, {}) == (0, 0.5)  # eventually consistent: half a unit
    transact = Call(
        "f",
        "dynamodb",
        "TransactWriteItems",
        {"TransactItems": [{"Put": {"TableName": "t", "Item": big}}]},
        {},
        0,
    )
    assert dynamodb_units(transact, {}) == (6, 0)


def test_the_shipped_price_table_is_dated_sourced_and_complete() -> None:
    prices = json.loads(PRICES.read_text())
    assert prices["region"] and prices["as_of"]
    assert all(url.startswith("https://aws.amazon.com/") for url in prices["sources"].values())
    per_million, monthly = total(bill(counts(), prices))  # every price the model reads
    assert per_million > 0 and monthly > 0
    assert container(counts(), prices, vcpu_needed=0.1)
