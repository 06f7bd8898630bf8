"""Benchmark 1: sender time per message.

What it measures: the wall time of 1,000 one-recipient send requests through the real sender
handler (`messaggio_sender.handler.lambda_handler`), fed as SQS events of the template's
BatchSize (read from template.yaml), one invocation after another as one warm Lambda
container sees them. AWS is
moto in-process (the table built from template.yaml, writes made atomic as DynamoDB's are,
the secret in Secrets Manager); the platform is the sandbox answering each request after
100 ms; the rate limit is set high (100,000/s, SENDER_MAX_CONCURRENCY=1) so pacing never
waits.

Baseline: a plain loop posting the same 1,000 signed send requests to the same sandbox one at
a time with `requests.post` (form built and signed by hand; no store, no retries): a naive
sender. Ideal: a batch can end no sooner than its slowest request, so 100 batches x the
median single-request round trip (measured by the baseline loop, with nothing else running).

Why it is honest: the handler is the deployed entry point with all its real parts
(Powertools' async batch processor, the thread pool, the DynamoDB claim before each call and
the settle after it, HTTP to a real socket); one warm-up batch, not counted, stands for a warm
container; every send is checked (all 1,000 accepted by the sandbox, every record of every
batch `submitted` with its msg_id, by a Query between batches, not timed).

Two things about the emulator are measured and said, not hidden:
- moto's cost of a write can grow with the table (its TransactWriteItems deep-copies the
  table for every item; the settle used to be one), an emulator artefact: DynamoDB's latency
  does not depend on table size. The table is therefore emptied between batches, outside the
  timed part, and the settle's cost on an empty table and on a table of 2,000 items is
  measured and printed.
- moto in-process runs on our interpreter (one GIL) behind one lock, so its requests cannot
  overlap as DynamoDB's do. Each store call and each platform request is timed (a thin
  wrapper; two clock reads per call) to show where the wall time goes, and the same run is
  repeated with the store replaced by a no-op of the same interface, clearly labelled: that
  figure is the handler's own concurrency and overhead, without any emulator cost.
"""

# PLC0415: imports inside functions, on purpose: a handler is imported only once its
# environment is set, inside the emulator.
# ruff: noqa: PLC0415

from __future__ import annotations

import dataclasses
import hashlib
import os
import threading
import time
from collections.abc import Callable
from typing import Any

import requests

from bench import common
from bench.common import (
    BATCH_SIZE,
    TABLE,
    ModelledStore,
    ms,
    no_stdout,
    phone,
    silence,
    sqs_record,
    text_body,
    use_environment,
)
from messaggio_local.resources import LOGIN, SECRET_KEY, create_table
from messaggio_local.template import function_context

MESSAGES = int(os.environ.get("BENCH_SENDER_MESSAGES", "1000"))
# What-if, not run by default (it adds a run): the store a stand-in answering after
# DynamoDB-like round trips (bench.common.ModelledStore), to estimate the figure on AWS.
MODELLED = os.environ.get("BENCH_SENDER_MODELLED") == "1"
LATENCY = 0.1  # seconds the sandbox takes to answer each send
TXT = "Your order has shipped"
BIG_TABLE = 2000  # items, for the emulator's snapshot cost


def batches(prefix: str, count: int) -> list[dict[str, Any]]:
    """`count` one-recipient messages as SQS events of BATCH_SIZE records."""
    records = [
        sqs_record(f"{prefix}-m{i:05d}", text_body(f"{prefix}-{i:05d}", phone(i)))
        for i in range(count)
    ]
    return [{"Records": records[i : i + BATCH_SIZE]} for i in range(0, len(records), BATCH_SIZE)]


class Intervals:
    """Start and end of every call of one kind, from any thread."""

    def __init__(self) -> None:
        self.spans: list[tuple[float, float]] = []
        self._lock = threading.Lock()

    def timed[T](self, fn: Callable[..., T]) -> Callable[..., T]:
        def wrapper(*args: Any, **kwargs: Any) -> T:
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                end = time.perf_counter()
                with self._lock:
                    self.spans.append((start, end))

        return wrapper

    def durations(self) -> list[float]:
        return [end - start for start, end in self.spans]


def union(spans: list[tuple[float, float]]) -> float:
    total, reach = 0.0, float("-inf")
    for start, end in sorted(spans):
        if end <= reach:
            continue
        total += end - max(start, reach)
        reach = end
    return total


def overlap(a: list[tuple[float, float]], b: list[tuple[float, float]]) -> float:
    return union(a) + union(b) - union(a + b)


class TimedStore:
    """The real MessageStore, each call timed."""

    def __init__(self, store: Any, spans: Intervals) -> None:
        self.claim = spans.timed(store.claim)
        self.settle = spans.timed(store.settle)
        self.give_up_stale = spans.timed(store.give_up_stale)
        self.reject_unsendable = spans.timed(store.reject_unsendable)


class TimedClient:
    """The real PlatformClient, each submit timed."""

    def __init__(self, client: Any, spans: Intervals) -> None:
        self.submit = spans.timed(client.submit)
        self.upload = client.upload


class NoopStore:
    """MessageStore's interface as the sender uses it, doing nothing (the claim is always
    won, every settle lands). NOT the product: it separates the emulator's cost from the
    handler's own."""

    def claim(self, ptid: str, claim: str, meta: Any) -> Any:
        from messaggio_core.dal.messages import Claimed

        return Claimed(claim)

    def settle(self, *args: Any, **kwargs: Any) -> bool:
        return True

    def give_up_stale(self, *args: Any) -> bool:
        return True

    def reject_unsendable(self, *args: Any) -> bool:
        return True


def invoke(event: dict[str, Any]) -> float:
    """One invocation of the real handler; every record must succeed. Returns its time."""
    from messaggio_sender import handler

    with no_stdout():
        started = time.perf_counter()
        answer = handler.lambda_handler(event, function_context("SenderFunction"))
        elapsed = time.perf_counter() - started
    if answer["batchItemFailures"]:
        raise RuntimeError(f"records failed: {answer['batchItemFailures']}")
    return elapsed


def recreate_table() -> None:
    import boto3

    client = boto3.client("dynamodb")
    client.delete_table(TableName=TABLE)
    create_table(client, "MessagesTable", TABLE)


def check_batch(event: dict[str, Any]) -> int:
    """Every record of the batch recorded `submitted` with its recipient's msg_id."""
    from messaggio_core.dal.messages import MessageStore

    store = MessageStore(TABLE, 90)
    ok = 0
    for record in event["Records"]:
        ptid = record["messageId"].replace("-m", "-", 1)
        found = store.lifecycle(ptid)
        if found is None or found.send.state != "submitted" or not found.send.msg_ids:
            raise RuntimeError(f"{ptid} not recorded submitted")
        ok += 1
    return ok


def store_costs(items: int, calls: int = 5) -> tuple[float, float]:
    """Median times of the store's claim (UpdateItem) and settle (UpdateItem with the msg_ids
    items), one at a time, on a table holding `items` items."""
    import boto3

    from messaggio_core.dal.messages import Claimed, MessageStore, SendMeta
    from messaggio_core.protocol.surface import State

    recreate_table()
    client = boto3.client("dynamodb")
    for start in range(0, items, 25):
        client.batch_write_item(
            RequestItems={
                TABLE: [
                    {"PutRequest": {"Item": {"pk": {"S": f"TX#fill-{i}"}, "sk": {"S": "SEND"}}}}
                    for i in range(start, min(start + 25, items))
                ]
            }
        )
    store = MessageStore(TABLE, 90)
    meta = SendMeta("text", "viber", (phone(0),), None, "bench")
    claims: list[float] = []
    settles: list[float] = []
    for i in range(calls):
        t = time.perf_counter()
        if not isinstance(store.claim(f"cost-{i}", "c", meta), Claimed):
            raise RuntimeError("claim lost")
        t2 = time.perf_counter()
        store.settle(
            f"cost-{i}", "c", State.SUBMITTED, None, msg_ids={phone(0): f"m{i}"}, phones=(phone(0),)
        )
        settles.append(time.perf_counter() - t2)
        claims.append(t2 - t)
    return common.median(claims), common.median(settles)


def baseline(send_url: str, count: int) -> tuple[float, float]:
    """The plain loop: one signed request after another. Returns (wall, median round trip)."""
    trips: list[float] = []
    started = time.perf_counter()
    for i in range(count):
        phone_ = phone(i)
        sign = hashlib.md5(
            (LOGIN + "MyShop" + phone_ + TXT + SECRET_KEY).encode(), usedforsecurity=False
        ).hexdigest()
        form = {
            "sending_method": "viber",
            "from": "MyShop",
            "user": LOGIN,
            "txt": TXT,
            "phone": phone_,
            "p_transaction_id": f"base-{i:05d}",
            "dlr": "1",
            "sign": sign,
        }
        t = time.perf_counter()
        answer = requests.post(send_url, data=form, timeout=(3.05, 10))
        trips.append(time.perf_counter() - t)
        if b"<code>0</code>" not in answer.content:
            raise RuntimeError(f"baseline send refused: {answer.text}")
    return time.perf_counter() - started, common.median(trips)


def main() -> None:
    use_environment(
        MESSAGGIO_RATE_LIMIT="100000",
        SENDER_MAX_CONCURRENCY="1",
        PLATFORM_CONNECT_TIMEOUT="3.05",
        PLATFORM_READ_TIMEOUT="10",
        SEND_CLAIM_STALE_SECONDS="40",
        ACCOUNT_BACKOFF_SECONDS="300",
    )
    from messaggio_sandbox import SandboxPlatform

    count = MESSAGES
    n_batches = -(-count // BATCH_SIZE)
    common.header(
        1,
        "Sender time per message",
        f"{count} one-recipient messages, {n_batches} batches of {BATCH_SIZE}, "
        f"sandbox latency {LATENCY * 1000:.0f} ms, rate limit 100000/s",
    )
    store_spans, platform_spans = Intervals(), Intervals()
    with SandboxPlatform(accounts={LOGIN: SECRET_KEY}, latency=LATENCY) as sandbox:
        os.environ["MESSAGGIO_SEND_URL"] = sandbox.send_url
        os.environ["MESSAGGIO_MEDIA_URL"] = sandbox.media_url
        with common.emulated_aws():
            from messaggio_sender import handler
            from messaggio_sender.settings import settings

            settings.cache_clear()
            handler.deps.cache_clear()
            silence(handler.logger)
            real = handler.deps()
            timed = dataclasses.replace(
                real,
                store=TimedStore(real.store, store_spans),  # type: ignore[arg-type]
                client=TimedClient(real.client, platform_spans),  # type: ignore[arg-type]
            )
            noop = dataclasses.replace(real, store=NoopStore())  # type: ignore[arg-type]
            original: Callable[[], Any] = handler.deps

            try:
                handler.deps = lambda: timed  # type: ignore[assignment]
                invoke(batches("warm", BATCH_SIZE)[0])  # a warm container: not counted
                store_spans.spans.clear()
                platform_spans.spans.clear()
                sandbox.reset()
                ours = 0.0
                checked = 0
                for event in batches("bench", count):
                    ours += invoke(event)
                    checked += check_batch(event)
                    recreate_table()  # see the docstring: moto's snapshot grows with the table
                accepted = sum(1 for r in sandbox.sends() if r.accepted)
                if accepted != count or checked != count:
                    raise RuntimeError(f"{accepted} accepted, {checked} submitted, not {count}")

                handler.deps = lambda: noop  # type: ignore[assignment]
                sandbox.reset()
                faked = sum(invoke(event) for event in batches("noop", count))
                if sum(1 for r in sandbox.sends() if r.accepted) != count:
                    raise RuntimeError("not every no-op-store send was accepted")

                modelled_time = None
                if MODELLED:
                    modelled = dataclasses.replace(real, store=ModelledStore())  # type: ignore[arg-type]
                    handler.deps = lambda: modelled  # type: ignore[assignment]
                    sandbox.reset()
                    modelled_time = sum(invoke(event) for event in batches("model", count))
                    if sum(1 for r in sandbox.sends() if r.accepted) != count:
                        raise RuntimeError("not every modelled-store send was accepted")
            finally:
                handler.deps = original  # type: ignore[assignment]

            claim_small, settle_small = store_costs(0)
            _, settle_big = store_costs(BIG_TABLE)

        sandbox.reset()
        base, trip = baseline(sandbox.send_url, count)

    ideal = n_batches * trip
    common.figure(
        f"handler, {count} messages, moto in-process",
        f"{ours:.2f} s",
        f"sequential requests.post {base:.2f} s",
        f"{base / ours:.1f}x faster",
        ">= 8x faster",
    )
    common.figure("  per message", ms(ours / count), ms(base / count))
    common.figure(
        f"ideal: {n_batches} batches x slowest request",
        f"{ideal:.2f} s",
        f"median single request {ms(trip)}",
    )
    common.figure(
        "handler / ideal, moto in-process", f"{ours / ideal:.2f}x", target="<= 1.3x ideal"
    )
    common.figure(
        "handler, store a no-op (NOT the product)",
        f"{faked:.2f} s",
        f"sequential requests.post {base:.2f} s",
        f"{base / faked:.1f}x faster, {faked / ideal:.2f}x ideal",
        ">= 8x, <= 1.3x ideal",
    )
    if modelled_time is not None:
        common.figure(
            "handler, store DynamoDB-like (NOT the product)",
            f"{modelled_time:.2f} s",
            f"sequential requests.post {base:.2f} s",
            f"{base / modelled_time:.1f}x faster, {modelled_time / ideal:.2f}x ideal",
            ">= 8x, <= 1.3x ideal",
        )
        common.note("  (claim 5-15 ms, settle 10-30 ms, no CPU: bench.common.ModelledStore)")
    s_spans, p_spans = store_spans.spans, platform_spans.spans
    both = overlap(s_spans, p_spans)
    store_only = union(s_spans) - both
    platform_only = union(p_spans) - both
    neither = ours - union(s_spans + p_spans)
    per = 1000 / n_batches
    common.note(
        f"where the moto run's time went, ms per batch: only store calls in flight "
        f"{store_only * per:.0f}, store calls and platform requests {both * per:.0f}, only "
        f"platform requests {platform_only * per:.0f}, neither {neither * per:.0f}"
    )
    serial = BATCH_SIZE * (claim_small + settle_small)
    common.note(
        f"moto, one call at a time on an empty table: claim {ms(claim_small)}, settle "
        f"{ms(settle_small)}, so {BATCH_SIZE} x both = {ms(serial)}"
        f" of emulator work per batch that cannot overlap (one lock, one GIL); in the run a "
        f"store call took {ms(common.median(store_spans.durations()))} (median, waits included), a "
        f"platform request {ms(common.median(platform_spans.durations()))}"
    )
    common.note(
        f"moto artefact: settle {ms(settle_small)} on an empty table, {ms(settle_big)} on "
        f"{BIG_TABLE} items; the table is emptied between batches, untimed"
    )
    common.note(
        f"checked: {accepted}/{count} sends accepted by the sandbox, {checked} recorded "
        f"submitted with their msg_id; no-op run: {count} accepted"
    )


if __name__ == "__main__":
    main()
