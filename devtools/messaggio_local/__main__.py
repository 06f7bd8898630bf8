"""python -m messaggio_local demo | up | send | status | redrive | schemas (see README: "Keep
it running")."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any, TextIO

from messaggio_local.template import ROOT
from messaggio_sandbox import Scenario

# In the repository's folder, so `status`, `send` and `redrive` find the running stack from
# any folder (MESSAGGIO_LOCAL_STATE names another file: the tests' stacks).
STATE = Path(os.environ.get("MESSAGGIO_LOCAL_STATE") or ROOT / ".local-stack.json")
# What `up --containers` writes for `sam local ... --env-vars` (git-ignored).
ENV_FILE = ROOT / "events" / "env.local.json"
STOP_WITHIN = 20.0  # seconds a stop may take before the process ends regardless


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m messaggio_local")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("demo", help="one send of each kind, then a table of their lifecycles")
    up = sub.add_parser("up", help="run the product locally until Ctrl-C")
    up.add_argument("--api-port", type=int, default=3000)
    up.add_argument("--aws-port", type=int, default=5000)
    up.add_argument("--platform-port", type=int, default=8401, help="the sandbox platform's")
    up.add_argument(
        "--containers",
        action="store_true",
        help="listen where a `sam local` container reaches (all addresses, answering only "
        "this host's loopback and container bridges) and write --env-file",
    )
    up.add_argument(
        "--allow-peer",
        action="append",
        default=[],
        metavar="CIDR",
        help="with --containers: another source range to answer (repeatable)",
    )
    up.add_argument(
        "--container-host",
        help="with --containers: how a container reaches this machine "
        "(default: the docker0 bridge's address, else host.docker.internal)",
    )
    up.add_argument("--env-file", default=str(ENV_FILE), help="with --containers (JSON)")
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
        help="what the sandbox reports after each send: delivered|seen|reply|undelivered|"
        "fallback|buffered|none (default reply: delivered, seen, then a 'Thanks' reply)",
    )
    send = sub.add_parser("send", help="enqueue one send request on the running stack")
    send.add_argument("--to", action="append", required=True, help="recipient (repeatable)")
    send.add_argument("--text")
    send.add_argument("--sms", action="store_true", help="sending_method sms (default viber)")
    send.add_argument(
        "--image",
        help="a local image file (put in the media bucket), s3://bucket/key or an image_id",
    )
    send.add_argument("--button-text")
    send.add_argument("--button-link")
    send.add_argument("--sender", default="MyShop", help="the 'from' name")
    send.add_argument("--id", help="p_transaction_id")
    status = sub.add_parser("status", help="GET /messages/{id} on the running stack")
    status.add_argument("id")
    redrive = sub.add_parser(
        "redrive", help="move the dead-letter queue's messages back to their queue"
    )
    redrive.add_argument("--media", action="store_true", help="the media DLQ, not the send DLQ")
    fresh = sub.add_parser(
        "fresh", help="print an SQS event of events/ with new ids (a send is once-only by id)"
    )
    fresh.add_argument("event", type=Path)
    fresh.add_argument("--suffix", help="added to each id (default: the time, HHMMSS)")
    sub.add_parser("schemas", help="write schemas/send-request.json from the sender's model")
    args = parser.parse_args(argv)
    console = sys.stdout
    if args.command == "schemas":
        from messaggio_local.schemas import write

        print(f"wrote {write()}")
        return 0
    if args.command == "demo":
        return _demo(console)
    if args.command == "up":
        code = _up(args, console)
        # Everything is stopped and written: skip tearing down the interpreter (seconds of
        # freeing the emulator's state), so a stop is quick.
        for stream in (sys.stdout, sys.stderr, console):
            stream.flush()
        os._exit(code)
    if args.command == "send":
        return _send(args)
    if args.command == "redrive":
        return _redrive(args.media)
    if args.command == "fresh":
        from messaggio_local.examples import fresh as renamed

        print(json.dumps(renamed(args.event, args.suffix or time.strftime("%H%M%S")), indent=2))
        return 0
    return _status(args.id)


def _quiet_handlers(path: str) -> TextIO:
    """The stack's own logs go to a file; the console keeps the picture."""
    log = open(path, "a", buffering=1)  # noqa: SIM115 (lives as long as the process)
    sys.stdout = log
    return log


def _demo(console: Any) -> int:
    from messaggio_local.demo import run

    _quiet_handlers("local-demo.log")
    ok = run(console)
    print("(handlers' logs: local-demo.log)", file=console)
    return 0 if ok else 1


class _Stop(BaseException):
    """Raised by the first stop signal in the main thread, wherever it is."""


def _up(args: argparse.Namespace, console: Any) -> int:
    from messaggio_local.examples import seed
    from messaggio_local.network import PortTaken, container_host, local_peers
    from messaggio_local.stack import LocalStack

    stopping = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        # A second signal (make forwards one, the process group gets another) must not
        # interrupt the stop the first one began.
        if stopping.is_set():
            return
        stopping.set()
        raise _Stop

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    log = _quiet_handlers("local-stack.log")
    say = _console(console)
    stack = LocalStack(
        api_port=args.api_port,
        aws_port=args.aws_port,
        platform_port=args.platform_port,
        host="0.0.0.0" if args.containers else "127.0.0.1",
        peers=local_peers(args.allow_peer) if args.containers else None,
        send_url=args.send_url,
        media_url=args.media_url,
        visibility=args.visibility,
        parameters=dict(p.split("=", 1) for p in args.param),
        log=say,
        function_log=_function_log(log, say),
    )
    state_file = Path(args.state)
    env_file = Path(args.env_file) if args.containers else None
    written: list[Path] = []
    try:
        try:
            stack.start()
        except PortTaken as exc:
            print(f"messaggio_local up: {exc}", file=sys.stderr, flush=True)
            return 2
        if stack.sandbox is not None:
            stack.sandbox.scenario = Scenario.named(args.scenario)
        seed(stack)
        state = _describe(stack)
        if env_file is not None:
            host = args.container_host or container_host()
            env_file.write_text(json.dumps(stack.env_vars(host), indent=2) + "\n")
            written.append(env_file)
        # Written whole, then renamed: a reader polling for the file never sees it half-written.
        partial = state_file.with_name(state_file.name + ".partial")
        partial.write_text(json.dumps(state, indent=2))
        partial.replace(state_file)
        written.append(state_file)
        say(_banner(stack, state, args, env_file))
        # Short waits: a stop signal the kernel hands to another thread only sets a flag that
        # the main thread acts on when it next runs Python, which a wait of an hour would not.
        while not stopping.wait(0.5):
            pass
    except _Stop:
        pass
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        watchdog = threading.Timer(STOP_WITHIN, os._exit, (1,))
        watchdog.daemon = True
        watchdog.start()
        stack.stop()
        for path in written:
            path.unlink(missing_ok=True)
        if written:
            say("stopped")
    return 0


def _describe(stack: Any) -> dict[str, str]:
    return {
        "aws_endpoint_url": stack.aws_endpoint,
        "api_url": f"{stack.api_url}/{stack.stage}",
        "send_queue_url": stack.output("SendQueue"),
        "dead_letter_queue_url": stack.output("SendDeadLetterQueue"),
        "media_queue_url": stack.output("MediaQueue"),
        "media_dead_letter_queue_url": stack.output("MediaDeadLetterQueue"),
        "media_bucket": stack.output("MediaBucket"),
        "callback_url": stack.callback_url,
        "events_queue_url": stack.events_queue_url,
    }


def _banner(
    stack: Any, state: dict[str, str], args: argparse.Namespace, env_file: Path | None
) -> str:
    platform = (
        f"the sandbox at {stack.sandbox.url}, scenario {args.scenario} (--scenario to change)"
        if stack.sandbox
        else args.send_url
    )
    lines = [
        "Messaggio connector running locally (Ctrl-C stops it). In another shell:",
        f"  export AWS_ENDPOINT_URL={stack.aws_endpoint} AWS_ACCESS_KEY_ID=local "
        "AWS_SECRET_ACCESS_KEY=local AWS_DEFAULT_REGION=eu-west-1 "
        f"QUEUE_URL={state['send_queue_url']} DLQ_URL={state['dead_letter_queue_url']} "
        f"MEDIA_BUCKET={state['media_bucket']} API_URL={state['api_url']} "
        f"EVENTS_URL={state['events_queue_url']}",
        "  status:       $API_URL/messages/<id>",
        "  opt-outs:     $API_URL/opt-outs[/<phone>]",
        "  events:       every event on the bus is delivered to $EVENTS_URL (a local rule)",
        f"  callbacks:    {stack.callback_url}",
        f"  platform:     {platform}",
    ]
    if env_file is not None:
        lines.append(f"  sam local:    --env-vars {os.path.relpath(env_file, ROOT)}")
    lines += ["  handlers' logs: local-stack.log; one line per send and report below:"]
    return "\n".join(lines)


def _console(console: Any) -> Any:
    lock = threading.Lock()

    def say(line: str) -> None:
        with lock:
            print(line, file=console, flush=True)

    return say


def _function_log(log: TextIO, say: Any) -> Any:
    """Each function's log line to the log file, and a short line to the console for each
    send and report: ids and states only, never a phone number or a text."""
    lock = threading.Lock()

    def sink(function: str, line: str) -> None:
        with lock:
            log.write(line + "\n")
        summary = summarize(line)
        if summary:
            say(summary)

    return sink


def summarize(line: str) -> str | None:
    """The console line for one of the handlers' log lines, if it records a send or report."""
    try:
        entry = json.loads(line)
    except ValueError:
        return None
    if not isinstance(entry, dict):
        return None
    message = entry.get("message")
    if message in ("send processed", "send rejected", "send needs attention"):
        return f"  send    {entry.get('correlation_id')}: {entry.get('result')}"
    if message in ("report stored", "report repeated"):
        what = entry.get("status") or entry.get("report_type")
        repeated = " (repeated)" if message == "report repeated" else ""
        ids = f"{entry.get('p_transaction_id') or '-'} msg {entry.get('msg_id')}"
        return f"  report  {ids}: {what}{repeated}"
    if message in ("image processed", "image refused"):
        return f"  image   {entry.get('object')}: {entry.get('result')}"
    return None


def _state() -> dict[str, str]:
    if not STATE.exists():
        raise SystemExit(f"no local stack running (no {STATE}): start one with `make up` in {ROOT}")
    data: dict[str, str] = json.loads(STATE.read_text())
    return data


def _aws(name: str, state: dict[str, str]) -> Any:
    import boto3

    client: Any = boto3.client(
        name,  # type: ignore[call-overload]
        endpoint_url=state["aws_endpoint_url"],
        region_name="eu-west-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",  # noqa: S106
    )
    return client


def _send(args: argparse.Namespace) -> int:
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
        body.update(_image(args.image, state))
    sent = _aws("sqs", state).send_message(
        QueueUrl=state["send_queue_url"], MessageBody=json.dumps(body)
    )
    print(f"queued: {body.get('p_transaction_id') or sent['MessageId']}")
    return 0


def _image(image: str, state: dict[str, str]) -> dict[str, str]:
    """A local file goes to the media bucket (the media function uploads it to the platform)
    and is sent by reference; s3:// is a reference; anything else an image_id."""
    if image.startswith("s3://"):
        return {"image": image}
    path = Path(image)
    if not path.is_file():
        return {"image_id": image}
    key = f"local/{path.name}"
    _aws("s3", state).put_object(Bucket=state["media_bucket"], Key=key, Body=path.read_bytes())
    return {"image": f"s3://{state['media_bucket']}/{key}"}


def _status(ptid: str) -> int:
    import requests

    answer = requests.get(f"{_state()['api_url']}/messages/{ptid}", timeout=5)
    print(json.dumps(answer.json(), indent=2, ensure_ascii=False))
    return 0 if answer.status_code == 200 else 1


def _redrive(media: bool) -> int:
    """What `aws sqs start-message-move-task` does (moto does not implement it): every
    message of the dead-letter queue back on its source queue, body and attributes as they
    were."""
    state = _state()
    prefix = "media_" if media else "send_"
    source = state[f"{prefix}queue_url"]
    dead = state["media_dead_letter_queue_url" if media else "dead_letter_queue_url"]
    sqs = _aws("sqs", state)
    moved = 0
    while True:
        got = sqs.receive_message(
            QueueUrl=dead,
            MaxNumberOfMessages=10,
            MessageAttributeNames=["All"],
            VisibilityTimeout=30,
        ).get("Messages", [])
        if not got:
            break
        for message in got:
            extra = {}
            if message.get("MessageAttributes"):
                extra["MessageAttributes"] = message["MessageAttributes"]
            sqs.send_message(QueueUrl=source, MessageBody=message["Body"], **extra)
            sqs.delete_message(QueueUrl=dead, ReceiptHandle=message["ReceiptHandle"])
            moved += 1
    print(f"moved {moved} message(s) from {dead.rsplit('/', 1)[1]} to {source.rsplit('/', 1)[1]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
