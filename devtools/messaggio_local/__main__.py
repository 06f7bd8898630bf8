"""python -m messaggio_local demo | up | send | status (see README: "Run it locally")."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from messaggio_sandbox import Scenario

STATE = Path(".local-stack.json")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m messaggio_local")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("demo", help="one send of each kind, then a table of their lifecycles")
    up = sub.add_parser("up", help="run the product locally until Ctrl-C")
    up.add_argument("--api-port", type=int, default=3000)
    up.add_argument("--aws-port", type=int, default=5000)
    up.add_argument("--send-url", help="a platform's send URL (default: the sandbox)")
    up.add_argument("--media-url", help="a platform's media URL (default: the sandbox)")
    up.add_argument("--visibility", type=int, default=3, help="queue visibility timeout, s")
    up.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override a template parameter (repeatable)",
    )
    up.add_argument("--state", default=str(STATE), help="where to write the endpoints (JSON)")
    up.add_argument(
        "--scenario",
        default="reply",
        help="what the sandbox reports: delivered|seen|reply|undelivered|fallback|buffered|none",
    )
    send = sub.add_parser("send", help="enqueue one send request on the running stack")
    send.add_argument("--to", action="append", required=True, help="recipient (repeatable)")
    send.add_argument("--text")
    send.add_argument("--sms", action="store_true", help="sending_method sms (default viber)")
    send.add_argument("--image", help="s3://bucket/key or an image_id")
    send.add_argument("--button-text")
    send.add_argument("--button-link")
    send.add_argument("--sender", default="MyShop", help="the 'from' name")
    send.add_argument("--id", help="p_transaction_id")
    status = sub.add_parser("status", help="GET /messages/{id} on the running stack")
    status.add_argument("id")
    args = parser.parse_args(argv)
    console = sys.stdout
    if args.command == "demo":
        return _demo(console)
    if args.command == "up":
        return _up(args, console)
    if args.command == "send":
        return _send(args)
    return _status(args.id)


def _quiet_handlers(path: str) -> Any:
    """The handlers' logs and metrics go to a file; the console keeps the picture."""
    log = open(path, "a", buffering=1)  # noqa: SIM115 (lives as long as the process)
    sys.stdout = log
    return log


def _demo(console: Any) -> int:
    from messaggio_local.demo import run

    _quiet_handlers("local-demo.log")
    ok = run(console)
    print("(handlers' logs: local-demo.log)", file=console)
    return 0 if ok else 1


def _up(args: argparse.Namespace, console: Any) -> int:
    from messaggio_local.stack import LocalStack

    _quiet_handlers("local-stack.log")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stack = LocalStack(
        api_port=args.api_port,
        aws_port=args.aws_port,
        send_url=args.send_url,
        media_url=args.media_url,
        visibility=args.visibility,
        parameters=dict(p.split("=", 1) for p in args.param),
        log=lambda line: print(line, file=console, flush=True),
    )
    stack.start()
    if stack.sandbox is not None:
        stack.sandbox.scenario = Scenario.named(args.scenario)
    state = {
        "aws_endpoint_url": stack.aws_endpoint,
        "api_url": f"{stack.api_url}/{stack.stage}",
        "send_queue_url": stack.output("SendQueue"),
        "media_bucket": stack.output("MediaBucket"),
        "callback_url": stack.callback_url,
        "dead_letter_queue_url": stack.output("SendDeadLetterQueue"),
    }
    state_file = Path(args.state)
    state_file.write_text(json.dumps(state, indent=2))
    lines = [
        "Messaggio connector running locally (Ctrl-C stops it).",
        f"  export AWS_ENDPOINT_URL={stack.aws_endpoint} AWS_ACCESS_KEY_ID=local "
        "AWS_SECRET_ACCESS_KEY=local AWS_DEFAULT_REGION=eu-west-1",
        f"  send queue:   {state['send_queue_url']}",
        f"  media bucket: s3://{state['media_bucket']}/",
        f"  status:       {state['api_url']}/messages/<id>",
        f"  callbacks:    {stack.callback_url}",
        f"  platform:     {stack.sandbox.url if stack.sandbox else args.send_url}",
        "  handlers' logs: local-stack.log",
    ]
    print("\n".join(lines), file=console, flush=True)
    try:
        stop.wait()
    finally:
        stack.stop()
        state_file.unlink(missing_ok=True)
        print("stopped", file=console, flush=True)
    return 0


def _state() -> dict[str, str]:
    if not STATE.exists():
        raise SystemExit("no local stack running here (start one: python -m messaggio_local up)")
    data: dict[str, str] = json.loads(STATE.read_text())
    return data


def _send(args: argparse.Namespace) -> int:
    import boto3

    state = _state()
    body: dict[str, Any] = {
        "sending_method": "sms" if args.sms else "viber",
        "from": args.sender,
        "phone": args.to,
    }
    for name, value in (
        ("txt", args.text),
        ("button_text", args.button_text),
        ("button_link", args.button_link),
        ("p_transaction_id", args.id),
    ):
        if value is not None:
            body[name] = value
    if args.image:
        body["image" if args.image.startswith("s3://") else "image_id"] = args.image
    sqs = boto3.client(
        "sqs",
        endpoint_url=state["aws_endpoint_url"],
        region_name="eu-west-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",  # noqa: S106
    )
    sent = sqs.send_message(QueueUrl=state["send_queue_url"], MessageBody=json.dumps(body))
    print(f"queued: {body.get('p_transaction_id') or sent['MessageId']}")
    return 0


def _status(ptid: str) -> int:
    import requests

    answer = requests.get(f"{_state()['api_url']}/messages/{ptid}", timeout=5)
    print(json.dumps(answer.json(), indent=2, ensure_ascii=False))
    return 0 if answer.status_code == 200 else 1


if __name__ == "__main__":
    raise SystemExit(main())
