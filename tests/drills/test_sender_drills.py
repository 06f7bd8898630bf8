"""Fault drills for the sender: seeded scenarios whose books must balance.

Each drill prints its counts (run with `make drill`, which passes -s).
"""

from __future__ import annotations

import collections
import json
import queue
import random
import threading
from collections.abc import Callable
from typing import Any

import pytest

from messaggio_sandbox import Fault
from tests.fixtures.sender import Sender, body, sqs_record

pytestmark = pytest.mark.drill

RECEIVE_LIMIT = 3  # below the template's default (5), so the dead-letter path is exercised


def record(data: dict[str, Any], n: int, arn: str) -> dict[str, Any]:
    return sqs_record(f"m-{n}", json.dumps(data), arn)


def test_redelivery_storm(sender: Sender, say: Callable[[str], None]) -> None:
    """500 sends, each record delivered three times, two invocations at once: the platform
    sees each p_transaction_id exactly once."""
    rng = random.Random(7)
    bodies = [body(f"storm-{i}") for i in range(500)]
    copies = [record(b, n, sender.queue_arn) for n, b in enumerate(bodies * 3)]
    rng.shuffle(copies)
    work: queue.Queue[list[dict[str, Any]]] = queue.Queue()
    for i in range(0, len(copies), 10):
        work.put(copies[i : i + 10])
    retries = collections.Counter[str]()

    def invocation() -> None:
        while True:
            try:
                batch = work.get_nowait()
            except queue.Empty:
                return
            failed = set(sender.invoke({"Records": batch}))
            again = [r for r in batch if r["messageId"] in failed]
            for r in again:
                retries[r["messageId"]] += 1
            if again:
                work.put(again)  # SQS hands them out again after the visibility timeout

    threads = [threading.Thread(target=invocation) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    seen = collections.Counter(
        (r.param("p_transaction_id") or b"").decode() for r in sender.sandbox.sends()
    )
    say(
        f"redelivery storm: {len(copies)} records, {sum(retries.values())} handed back "
        f"while in flight, {len(seen)} distinct sends at the platform, "
        f"max copies of one {max(seen.values())}"
    )
    assert len(seen) == 500
    assert set(seen.values()) == {1}
    assert all(sender.state(f"storm-{i}")["state"] == "submitted" for i in range(0, 500, 25))


def test_flaky_platform(sender: Sender, say: Callable[[str], None]) -> None:
    """500 sends against a platform that fails at random: every send ends submitted,
    rejected, unknown, or in the dead-letter queue; none lost, none sent twice."""
    sender.sandbox.random_faults(
        {
            Fault.code(-4, "TEMPORARY ERROR"): 0.20,
            Fault.http(503): 0.10,
            Fault.drop(): 0.05,
            Fault.hang(1.5): 0.02,
            Fault.code(-1, "PARAM ERROR (txt)"): 0.03,
        },
        seed=11,
    )
    records = [record(body(f"flaky-{i}"), i, sender.queue_arn) for i in range(500)]
    receives = collections.Counter[str]()
    dead: list[str] = []
    pending = records
    while pending:
        again: list[dict[str, Any]] = []
        for i in range(0, len(pending), 10):
            batch = pending[i : i + 10]
            for r in batch:
                receives[r["messageId"]] += 1
            failed = set(sender.invoke({"Records": batch}))
            for r in batch:
                if r["messageId"] not in failed:
                    continue
                if receives[r["messageId"]] >= RECEIVE_LIMIT:
                    dead.append(json.loads(r["body"])["p_transaction_id"])
                else:
                    again.append(r)
        pending = again

    states = collections.Counter(sender.state(f"flaky-{i}")["state"] for i in range(500))
    dead_states = {sender.state(p)["state"] for p in dead}
    accepted = collections.Counter(
        (r.param("p_transaction_id") or b"").decode() for r in sender.sandbox.sends() if r.accepted
    )
    say(
        f"flaky platform: {dict(states)}; dead-letter {len(dead)}; "
        f"{len(sender.sandbox.sends())} requests, {sum(accepted.values())} accepted"
    )
    assert sum(states.values()) == 500
    assert set(states) <= {"submitted", "rejected", "unknown", "pending"}
    assert states["pending"] == len(dead)  # only what reached the dead-letter queue waits
    assert dead_states <= {"pending"}
    assert max(accepted.values()) == 1  # the platform processed no send twice
    # every accepted send is submitted or unknown (the answer lost), never anything else
    for ptid in accepted:
        assert sender.state(ptid)["state"] in ("submitted", "unknown")
