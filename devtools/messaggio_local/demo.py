"""`make demo`: one send of each kind through the whole local product, and a table of each
send's lifecycle read back through GET /messages/{id}. One recipient replies STOP; the send
that follows to that recipient shows it suppressed (opted_out, never sent)."""

from __future__ import annotations

import json
import time
from typing import Any, TextIO

import boto3
import requests

from messaggio_local.stack import LocalStack
from messaggio_sandbox import Fault, Scenario

IMAGE_KEY = "promo/winter-sale.png"
# The demo's send queue gives up after this many deliveries (the template's default is 5),
# so its dead letter shows within seconds.
DEMO_MAX_RECEIVES = "2"
DEAD_LETTER_ID = "demo-dead-letter"


def png() -> bytes:
    """A small picture the platform accepts (it checks the PNG signature)."""
    return b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8


def sends(bucket: str) -> list[tuple[dict[str, Any], dict[str, Scenario], str]]:
    """(queue body, scenario per phone, what the reader should see)."""
    image = f"s3://{bucket}/{IMAGE_KEY}"
    return [
        (
            {
                "sending_method": "viber",
                "from": "MyShop",
                "phone": ["380501234567", "380671112233"],
                "txt": "Your order 1042 has shipped",
                "p_transaction_id": "demo-text",
            },
            {
                "380501234567": Scenario.reply("Thanks! When will it arrive?"),
                "380671112233": Scenario.seen(),
            },
            "text to two recipients: one replies",
        ),
        (
            {
                "sending_method": "viber",
                "from": "MyShop",
                "phone": ["380931234567"],
                "image": image,
                "p_transaction_id": "demo-picture",
            },
            {"380931234567": Scenario.seen()},
            "picture by s3:// reference (uploaded once by the media function)",
        ),
        (
            {
                "sending_method": "viber",
                "from": "MyShop",
                "phone": ["380501112233"],
                "txt": "Track your parcel",
                "button_text": "Track",
                "button_link": "https://shop.example/track/1042",
                "p_transaction_id": "demo-button",
            },
            {"380501112233": Scenario.buffered_then_delivered()},
            "text + button: buffered, then delivered",
        ),
        (
            {
                "sending_method": "viber",
                "from": "MyShop",
                "phone": ["380631112233"],
                "txt": "Winter sale: -20%",
                "image": image,
                "button_text": "Shop now",
                "button_link": "https://shop.example/sale",
                "p_transaction_id": "demo-full",
            },
            {"380631112233": Scenario.reply("Is size M in stock?")},
            "text + picture + button, same image: no second upload",
        ),
        (
            {
                "sending_method": "sms",
                "from": "MyShop",
                "phone": ["79031234567"],
                "txt": "Ваш код: 5521",
                "charset": "CP1251",
                "p_transaction_id": "demo-sms",
            },
            {"79031234567": Scenario.delivered()},
            "SMS in CP1251 (standard numeric report)",
        ),
        (
            {
                "sending_method": "viber",
                "from": "MyShop",
                "phone": ["380971112233"],
                "txt": "Замовлення 1042 відправлено 🎉",
                "expiry_txt": "Order 1042 shipped",
                "dlr_timeout": 600,
                "p_transaction_id": "demo-fallback",
            },
            {"380971112233": Scenario.fallback("VIBER_USER_NOT_FOUND")},
            "Viber fails (no app), the SMS fallback delivers",
        ),
        (
            {
                "sending_method": "viber",
                "from": "MyShop",
                "phone": ["+380501234567"],
                "txt": "hi",
                "colour": "red",
                "p_transaction_id": "demo-broken",
            },
            {},
            "a broken request: rejected, never sent",
        ),
        (
            {
                "sending_method": "viber",
                "from": "MyShop",
                "phone": [STOPPER],
                "txt": "Weekly deals inside",
                "p_transaction_id": "demo-stop",
            },
            {STOPPER: Scenario.reply("Stop!")},
            "the recipient replies STOP: on the opt-out list",
        ),
    ]


STOPPER = "380991234567"


def after_stop() -> list[tuple[dict[str, Any], dict[str, Scenario], str]]:
    """Sent once the STOP is stored: the opted-out recipient is suppressed, the other sent."""
    return [
        (
            {
                "sending_method": "viber",
                "from": "MyShop",
                "phone": [STOPPER, "380661234567"],
                "txt": "More deals inside",
                "p_transaction_id": "demo-after-stop",
            },
            {"380661234567": Scenario.delivered()},
            "the next send: the opted-out recipient is not sent, the other is",
        )
    ]


FINAL = {
    "demo-text": ("submitted", ["seen", "seen"], 1),
    "demo-picture": ("submitted", ["seen"], 0),
    "demo-button": ("submitted", ["delivered"], 0),
    "demo-full": ("submitted", ["seen"], 1),
    "demo-sms": ("submitted", ["delivered"], 0),
    "demo-fallback": ("submitted", ["delivered"], 0),
    "demo-broken": ("rejected", [], 0),
    "demo-stop": ("submitted", ["seen"], 1),
    "demo-after-stop": ("submitted", ["delivered"], 0),
}


def mask(phone: str | None) -> str:
    return "—" if not phone else f"{phone[:5]}•••{phone[-2:]}"


def settled(view: dict[str, Any]) -> bool:
    state, statuses, replies = FINAL[view["p_transaction_id"]]
    recipients = view["recipients"]
    got = [r["status"] for r in recipients if r["msg_id"]]
    return (
        view["state"] == state
        and sorted(got) == sorted(statuses)
        and sum(len(r["replies"]) for r in recipients) == replies
    )


def run(out: TextIO, timeout: float = 45.0) -> bool:
    started = time.monotonic()
    with LocalStack(
        log=lambda line: print(f"  ! {line}", file=out),
        parameters={"SendMaxReceiveCount": DEMO_MAX_RECEIVES},
    ) as stack:
        assert stack.sandbox is not None
        bucket = stack.output("MediaBucket")
        queue = stack.output("SendQueue")
        print(f"Local stack up: AWS at {stack.aws_endpoint}, API at {stack.api_url}", file=out)
        print(f"Platform: sandbox at {stack.sandbox.url}\n", file=out)
        boto3.client("s3").put_object(Bucket=bucket, Key=IMAGE_KEY, Body=png())
        _wait(lambda: bool(stack.sandbox and stack.sandbox.uploads()), 15)
        sqs = boto3.client("sqs")
        plan: list[tuple[dict[str, Any], dict[str, Scenario], str]] = []
        views: dict[str, dict[str, Any]] = {}

        def enqueue(batch: list[tuple[dict[str, Any], dict[str, Scenario], str]]) -> None:
            assert stack.sandbox is not None
            for body, scenarios, _ in batch:
                for phone, scenario in scenarios.items():
                    stack.sandbox.scenario_for(phone, scenario)
                sqs.send_message(QueueUrl=queue, MessageBody=json.dumps(body, ensure_ascii=False))
            plan.extend(batch)

        def all_settled() -> bool:
            for body, _, _ in plan:
                ptid = body["p_transaction_id"]
                try:
                    answer = requests.get(f"{stack.api_url}/v1/messages/{ptid}", timeout=5)
                except requests.RequestException:  # a busy machine: ask again next round
                    return False
                if answer.status_code == 200:
                    views[ptid] = answer.json()
            return len(views) == len(plan) and all(settled(v) for v in views.values())

        enqueue(sends(bucket))
        ok = _wait(all_settled, timeout)
        listed = requests.get(f"{stack.api_url}/v1/opt-outs/{STOPPER}", timeout=5)
        print(f"GET /opt-outs/{mask(STOPPER)} after the reply: {listed.status_code}", file=out)
        enqueue(after_stop())
        ok = _wait(all_settled, timeout) and ok and listed.status_code == 200
        _table(out, plan, views)
        published: dict[str, list[dict[str, Any]]] = {}

        def all_published() -> bool:
            for envelope in _drain(sqs, stack.events_queue_url):
                detail = envelope["detail"]
                key = detail.get("p_transaction_id") or "(not joined)"
                published.setdefault(key, []).append(envelope)
            return all(told(v, published.get(p, [])) for p, v in views.items())

        ok = _wait(all_published, 15) and ok
        _events(out, plan, published)
        ok = _dead_letter(out, stack, timeout) and ok
        uploads = len(stack.sandbox.uploads())
        print(
            f"\n{len(stack.sandbox.sends())} sends reached the platform, {uploads} image "
            f"upload(s), {len(stack.sandbox.report_log)} reports delivered to the callback "
            f"route; {time.monotonic() - started:.1f} s.",
            file=out,
        )
        print(
            "Every send settled as expected." if ok else "NOT every send settled in time.", file=out
        )
        return ok


def _dead_letter(out: TextIO, stack: LocalStack, timeout: float) -> bool:
    """A send the platform keeps answering -4 until the queue gives up: `failed`, in the
    dead-letter queue; moved back (what a redrive does), it is sent once and `submitted`."""
    assert stack.sandbox is not None
    sqs = boto3.client("sqs")
    stack.sandbox.inject(Fault.code(-4, "TEMPORARY ERROR"), times=int(DEMO_MAX_RECEIVES))
    body = {
        "sending_method": "sms",
        "from": "MyShop",
        "phone": ["79037654321"],
        "txt": "Your code: 7731",
        "p_transaction_id": DEAD_LETTER_ID,
    }
    sqs.send_message(QueueUrl=stack.output("SendQueue"), MessageBody=json.dumps(body))
    print(
        f"\nDead letter and redrive (the demo's queue gives up after {DEMO_MAX_RECEIVES} "
        "deliveries; the platform answers -4 to each):",
        file=out,
    )
    dead = _wait(lambda: _state(stack) == "failed", timeout)
    view = _view(stack)
    print(f"  {DEAD_LETTER_ID}  {_state(stack)}  {view.get('reason')}", file=out)
    dlq = stack.output("SendDeadLetterQueue")
    moved: list[Any] = []

    def redrive() -> bool:
        got = sqs.receive_message(QueueUrl=dlq, WaitTimeSeconds=1).get("Messages", [])
        for message in got:
            sqs.send_message(QueueUrl=stack.output("SendQueue"), MessageBody=message["Body"])
            sqs.delete_message(QueueUrl=dlq, ReceiptHandle=message["ReceiptHandle"])
            moved.append(message)
        return bool(moved)

    _wait(redrive, timeout)
    sent = _wait(lambda: _state(stack) == "submitted", timeout)
    print(
        f"  redriven ({len(moved)} message moved back): {_state(stack)}, "
        f"attempts {_view(stack).get('attempts')}",
        file=out,
    )
    return dead and sent


def _view(stack: LocalStack) -> dict[str, Any]:
    answer = requests.get(f"{stack.api_url}/v1/messages/{DEAD_LETTER_ID}", timeout=5)
    view: dict[str, Any] = answer.json() if answer.status_code == 200 else {}
    return view


def _state(stack: LocalStack) -> str | None:
    return _view(stack).get("state")


def told(view: dict[str, Any], events: list[dict[str, Any]]) -> bool:
    """The bus has heard the send's state, each recipient's final status and every reply."""
    kinds = [(e["detail-type"], e["detail"]) for e in events]
    if not any(t == "Send State Changed" and d["state"] == view["state"] for t, d in kinds):
        return False
    statuses = {(d["msg_id"], d["status"]) for t, d in kinds if t == "Message Status Changed"}
    replies = sum(t == "Reply Received" for t, _ in kinds)
    recipients = [r for r in view["recipients"] if r["msg_id"]]
    return all((r["msg_id"], r["status"]) in statuses for r in recipients) and replies == sum(
        len(r["replies"]) for r in recipients
    )


def _drain(sqs: Any, url: str) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = []
    while True:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return got
        got.extend(json.loads(m["Body"]) for m in messages)
        sqs.delete_message_batch(
            QueueUrl=url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)
            ],
        )


def _events(out: TextIO, plan: list[Any], published: dict[str, list[dict[str, Any]]]) -> None:
    """What each send published to the bus, in the order it arrived."""
    print("\nEvents on the bus (source messaggio.connector), per send:", file=out)
    width = max(len(body["p_transaction_id"]) for body, _, _ in plan)
    for body, _, _ in plan:
        ptid = body["p_transaction_id"]
        for n, envelope in enumerate(published.get(ptid, [])):
            print(f"  {(ptid if n == 0 else '').ljust(width)}  {_event_line(envelope)}", file=out)


def _event_line(envelope: dict[str, Any]) -> str:
    kind, d = envelope["detail-type"], envelope["detail"]
    if kind == "Send State Changed":
        return f"{kind:<22}  {d['previous_state'] or '—'} → {d['state']}"
    if kind == "Message Status Changed":
        extended = f" ({d['status_extended']['code']})" if d["status_extended"] else ""
        return (
            f"{kind:<22}  {mask(d['phone'])}  {d['previous_status'] or '—'} → "
            f"{d['status']}{extended}"
        )
    if kind == "Recipient Opted Out":
        return f"{kind:<22}  {mask(d['phone'])}  {d['source']} {d['keyword'] or ''}".rstrip()
    if kind == "Recipient Opted In":
        return f"{kind:<22}  {mask(d['phone'])}"
    return f'{kind:<22}  {mask(d["phone"])}  "{d["text"]}"'


def _wait(check: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.3)
    return bool(check())


def _table(out: TextIO, plan: list[Any], views: dict[str, dict[str, Any]]) -> None:
    rows = [("send", "state", "recipient", "status", "detail", "replies")]
    for body, _, what in plan:
        ptid = body["p_transaction_id"]
        view = views.get(ptid)
        if view is None:
            rows.append((ptid, "(not found)", "", "", "", ""))
            continue
        recipients = view["recipients"] or [{}]
        for i, r in enumerate(recipients):
            reported = " → ".join(r.get("reported", {}))
            if r.get("status_extended"):
                reported += f" ({r['status_extended']})"
            detail = (view["reason"] or "")[:48] if view["state"] != "submitted" else ""
            rows.append(
                (
                    ptid if i == 0 else "",
                    view["state"] if i == 0 else "",
                    mask(r.get("phone")),
                    r.get("status") or "—",
                    detail if detail else reported,
                    "; ".join(f'"{x["text"]}"' for x in r.get("replies", [])),
                )
            )
        rows.append(("", f"  ({what})", "", "", "", ""))
    widths = [max(len(str(row[i])) for row in rows if row[0] or i == 0) for i in range(6)]
    for n, row in enumerate(rows):
        if row[1].startswith("  ("):
            print(f"  {row[1].strip()}", file=out)
            continue
        print(
            "  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip(), file=out
        )
        if n == 0:
            print("  ".join("-" * w for w in widths), file=out)
