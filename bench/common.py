"""What the benchmarks share: the Lambda environment of template.yaml, emulated AWS built
from the template (messaggio_local.resources, as the tests build it), SQS and API Gateway
events, moto_server in a child process, and one way of printing a figure next to its baseline
and target. A handler's Lambda context is messaggio_local.template.function_context's."""

# PLC0415: imports inside functions, on purpose: a handler is imported only once its
# environment is set, inside the emulator.
# S603: subprocesses run our own interpreter on our own code: no shell, no outside input.
# ruff: noqa: PLC0415, S603

from __future__ import annotations

import contextlib
import copy
import json
import logging
import os
import random
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any, Final

from messaggio_local.resources import create_bucket, create_secret, create_table
from messaggio_local.template import ACCOUNT, REGION, resource

ROOT: Final = Path(__file__).resolve().parent.parent
EVENTS: Final = ROOT / "events"
PYTHONPATH: Final = os.pathsep.join(
    str(ROOT / p)
    for p in (
        "layers/shared",
        "functions/sender",
        "functions/callbacks",
        "functions/media",
        "functions/events",
        "devtools",
        ".",
    )
)

TABLE: Final = "messages-bench"
SECRET_ID: Final = "messaggio/connector"  # noqa: S105 (a name, not a secret)
PLATFORM_IP: Final = "203.0.113.10"  # the source address in events/callback_*.json
QUEUE_NAME: Final = "messaggio-connector-send"
QUEUE_ARN: Final = f"arn:aws:sqs:{REGION}:{ACCOUNT}:{QUEUE_NAME}"
MEDIA_BUCKET: Final = f"messaggio-connector-media-{ACCOUNT}"
# template.yaml: SenderFunction's SQS event source BatchSize (read, so the bench cannot drift)
BATCH_SIZE: Final = int(
    resource("SenderFunction")["Properties"]["Events"]["SendRequests"]["Properties"]["BatchSize"]
)


def lambda_environment(**extra: str) -> dict[str, str]:
    """The functions' environment as template.yaml's Globals set it, plus fake credentials
    for emulated AWS (no real account is ever reached) and `extra`."""
    env = {
        "POWERTOOLS_SERVICE_NAME": "messaggio-connector",
        "POWERTOOLS_METRICS_NAMESPACE": "MessaggioConnector",
        "POWERTOOLS_LOG_LEVEL": "INFO",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "MESSAGES_TABLE": TABLE,
        "RETENTION_DAYS": "90",
        "MESSAGGIO_SECRET_ID": SECRET_ID,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
    }
    env.update(extra)
    return env


def use_environment(**extra: str) -> None:
    """Sets this process's environment as a Lambda container's (before any handler import)."""
    os.environ.update(lambda_environment(**extra))
    os.environ.pop("AWS_PROFILE", None)
    if "AWS_ENDPOINT_URL" not in extra:
        os.environ.pop("AWS_ENDPOINT_URL", None)


def child_environment(**extra: str) -> dict[str, str]:
    """The environment of a child interpreter: ours, the repo's import paths, `extra`."""
    env = dict(os.environ)
    env.update(lambda_environment(**extra))
    env["PYTHONPATH"] = PYTHONPATH
    env.pop("AWS_PROFILE", None)
    return env


def create_resources(*, bucket: bool = False) -> None:
    """The messages table, the secret and (with `bucket`) the media bucket, made from
    template.yaml in whatever AWS boto3 reaches now (mock_aws, or moto_server via
    AWS_ENDPOINT_URL)."""
    import boto3

    create_table(boto3.client("dynamodb"), "MessagesTable", TABLE)
    create_secret(boto3.client("secretsmanager"), SECRET_ID)
    if bucket:
        create_bucket(boto3.client("s3"), "MediaBucket", MEDIA_BUCKET)


@contextlib.contextmanager
def emulated_aws(*, bucket: bool = False) -> Iterator[None]:
    """moto in this process (DynamoDB's writes atomic, as DynamoDB's are; HEAD answers
    bodiless, as over HTTP), the product's cached clients and secret forgotten, the resources
    made (create_resources)."""
    from moto import mock_aws

    from messaggio_core.dal.clients import reset_clients
    from messaggio_core.dal.secrets import reset_secrets
    from messaggio_local.moto_atomic import make_dynamodb_atomic
    from messaggio_local.moto_head import make_head_bodiless

    make_dynamodb_atomic()
    make_head_bodiless()
    with mock_aws():
        reset_clients()
        reset_secrets()
        create_resources(bucket=bucket)
        yield


def text_body(ptid: str, phone: str) -> str:
    """A one-recipient Viber text send request, as a producer would enqueue it."""
    return json.dumps(
        {
            "sending_method": "viber",
            "from": "MyShop",
            "phone": [phone],
            "txt": "Your order has shipped",
            "p_transaction_id": ptid,
        }
    )


def phone(i: int) -> str:
    return f"38050{i:07d}"


def sqs_record(message_id: str, body: str, receipt: str = "bench-receipt") -> dict[str, Any]:
    return {
        "messageId": message_id,
        "receiptHandle": receipt,
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": "1764500000000",
            "SenderId": "AIDAIENQZJOLO23YVJ4VO",
            "ApproximateFirstReceiveTimestamp": "1764500000100",
        },
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": QUEUE_ARN,
        "awsRegion": REGION,
    }


def load_event(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return data


def callback_post_event(body: str) -> dict[str, Any]:
    """events/callback_delivery_post.json (a real-shaped API Gateway REST proxy event) with
    another form body."""
    event = copy.deepcopy(load_event("callback_delivery_post.json"))
    event["body"] = body
    event["headers"]["Content-Length"] = str(len(body.encode()))
    event["multiValueHeaders"]["Content-Length"] = [str(len(body.encode()))]
    return event


def status_event(ptid: str) -> dict[str, Any]:
    """events/status_query.json for another id."""
    event = copy.deepcopy(load_event("status_query.json"))
    event["path"] = f"/messages/{ptid}"
    event["pathParameters"] = {"id": ptid}
    event["requestContext"]["path"] = f"/v1/messages/{ptid}"
    return event


def delete_handled(sqs: Any, queue_url: str, messages: list[dict[str, Any]]) -> None:
    """Deletes received messages as Lambda's poller does after an invocation: ten a request
    (SQS's most), by receipt handle."""
    batches = [messages[i : i + 10] for i in range(0, len(messages), 10)]
    for batch in batches:
        entries = [{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(batch)]
        sqs.delete_message_batch(QueueUrl=queue_url, Entries=entries)


def silence(logger: Any) -> IO[str]:
    """Points a Powertools Logger at /dev/null: the JSON lines are still formatted and
    written (as in Lambda), only not shown."""
    sink = open(os.devnull, "w")  # noqa: SIM115 (kept for the process's life)
    handler = logger.registered_handler
    if isinstance(handler, logging.StreamHandler):
        handler.stream = sink
    return sink


@contextlib.contextmanager
def no_stdout() -> Iterator[None]:
    """Powertools Metrics prints its EMF line to stdout at each flush: written, not shown."""
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
        yield


class ModelledStore:
    """MessageStore's interface as the sender uses it, answering after DynamoDB-like round
    trips: a claim (UpdateItem) 5-15 ms, a settle (TransactWriteItems) 10-30 ms, uniformly,
    seeded. A send is claimed once (a copy finds it taken), as by the table. NOT the product:
    a stand-in where the emulator cannot keep up, or to show DynamoDB-like conditions."""

    def __init__(self, seed: int = 0) -> None:
        self._random = random.Random(seed)  # noqa: S311 (latencies, not secrets)
        self._lock = threading.Lock()
        self._claimed: set[str] = set()

    def _wait(self, low: float, high: float) -> None:
        with self._lock:
            delay = self._random.uniform(low, high)
        time.sleep(delay)

    def claim(self, ptid: str, claim: str, meta: Any) -> Any:
        from messaggio_core.dal.messages import Claimed, Taken

        self._wait(0.005, 0.015)
        with self._lock:
            if ptid in self._claimed:
                return Taken("submitted", None, None, None)
            self._claimed.add(ptid)
        return Claimed(claim)

    def settle(self, *args: Any, **kwargs: Any) -> bool:
        self._wait(0.010, 0.030)
        return True

    def give_up_stale(self, *args: Any) -> bool:
        return True

    def reject_unsendable(self, *args: Any) -> bool:
        return True


class MotoServer:
    """moto_server (ThreadedMotoServer) on 127.0.0.1 in a child interpreter. As in the local
    stack, DynamoDB's writes are made atomic, as DynamoDB's are; and SQS's short-polling
    receive too: moto hands one message to two concurrent receivers otherwise, which SQS does
    not do within the visibility timeout. Stops when we close its stdin, so it cannot outlive
    this process."""

    CODE: Final = (
        "import logging, sys, threading\n"
        "from messaggio_local.moto_atomic import make_dynamodb_atomic\n"
        "from moto.server import ThreadedMotoServer\n"
        "from moto.sqs.models import SQSBackend\n"
        "make_dynamodb_atomic()\n"
        "lock = threading.RLock()\n"
        "def atomic(method):\n"
        "    def wrapper(*args, **kwargs):\n"
        "        with lock:\n"
        "            return method(*args, **kwargs)\n"
        "    return wrapper\n"
        "for name in ('receive_message', 'delete_message', 'change_message_visibility'):\n"
        "    setattr(SQSBackend, name, atomic(getattr(SQSBackend, name)))\n"
        "logging.getLogger('werkzeug').setLevel(logging.ERROR)\n"
        "server = ThreadedMotoServer(ip_address='127.0.0.1', port=0, verbose=False)\n"
        "server.start()\n"
        "print(server.get_host_and_port()[1], flush=True)\n"
        "sys.stdin.read()\n"
        "server.stop()\n"
    )

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", self.CODE],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=child_environment(),
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline().strip()
        if not line.isdigit():
            self.stop()
            raise RuntimeError("moto_server did not start")
        self.endpoint = f"http://127.0.0.1:{int(line)}"

    def stop(self) -> None:
        if self.process.stdin is not None and not self.process.stdin.closed:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)

    def __enter__(self) -> MotoServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def header(number: int, title: str, detail: str) -> None:
    print(f"\n== {number}. {title}: {detail}", flush=True)


def figure(label: str, value: str, baseline: str = "", ratio: str = "", target: str = "") -> None:
    """One line per figure: ours | the baseline | ratio | the target (information only)."""
    parts = [f"  {label:<44} {value:>14}"]
    if baseline:
        parts.append(f"baseline {baseline}")
    if ratio:
        parts.append(ratio)
    if target:
        parts.append(f"target {target}")
    print("  |  ".join(parts), flush=True)


def note(text: str) -> None:
    print(f"    {text}", flush=True)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"
