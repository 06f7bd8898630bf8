"""`make cost`: what a million messages cost on AWS, measured, next to the two designs
people build instead.

The scenario: one-recipient Viber text sends put on the send queue one at a time (as the
README's producer does), each answered by the platform with a delivery and a seen report,
one in fifty also with a reply. The whole product runs on the local stack (template.yaml's
queues, table, stream, API, functions in processes of their own, the sandbox platform) at
the template's defaults (rate limit, batch sizes, memory, log level).

What is counted, never assumed: every request at the AWS API boundary, by a WSGI layer in
front of the emulated AWS that sees each request (service, operation, sizes) whoever makes
it: the functions, the event source mappings (SQS receive and delete, stream reads) and the
producer; the items' sizes, from the requests and the table itself (DynamoDB bills 1 KB
write units and 4 KB read units); the invocations and their median duration (billed per ms,
at the function's memory size and the template's architecture; the median, because a local
process's first invocation waits for the process to start); the bytes of every line the
functions write (their CloudWatch Logs ingestion, plus Lambda's START/END/REPORT lines
formatted as Lambda writes them); the API's requests; the distinct custom metrics in the
functions' EMF lines; the function processes' CPU time (which sizes the container). The
secret is read once per container and then every 5 minutes, so its reads scale with time,
not messages. Prices come from a dated table (bench/prices-eu-west-1.json, its sources
named; `PRICES=` another). Left out: free tiers; Lambda's pollers' idle long polls
of an empty queue (a few hundred thousand requests a month whatever the volume, about
$0.10-0.30); the local poller's empty receives (an artefact of the emulation); cold starts'
init time; data transfer.

The alternatives, from the same counts: a Lambda per message (the sender fed one message
an invocation, measured by invoking it so; the rest as ours) and an always-on container
(the smallest Fargate task that holds the rate limit, behind a load balancer for the
reports; its AWS requests as ours, no Lambda, no API Gateway).
"""

# PLC0415: imports inside functions, on purpose: the local stack is imported only by the
# process that runs it.
# ruff: noqa: PLC0415

from __future__ import annotations

import base64
import io
import json
import math
import os
import statistics
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final

from bench.common import ROOT, header, note, phone
from messaggio_local.template import template

PRICES: Final = Path(os.environ.get("PRICES") or ROOT / "bench" / "prices-eu-west-1.json")
MESSAGES: Final = int(os.environ.get("BENCH_COST_MESSAGES", "250"))
SINGLES: Final = int(os.environ.get("BENCH_COST_SINGLES", "20"))
REPLY_EVERY: Final = 50
# The functions the scenario runs (no image is sent: the media function is idle).
SCENARIO: Final = ("SenderFunction", "CallbacksFunction", "EventsFunction")
MILLION: Final = 1_000_000
# Lambda's own lines per invocation (text format), measured by length once formatted.
PLATFORM_LINES: Final = (
    "START RequestId: {id} Version: $LATEST",
    "END RequestId: {id}",
    "REPORT RequestId: {id}\tDuration: {ms:.2f} ms\tBilled Duration: {billed} ms\t"
    "Memory Size: {memory} MB\tMax Memory Used: 98 MB",
)


# -- the counts model ----------------------------------------------------------------------


@dataclass
class FunctionUse:
    """One function's use over the measured messages."""

    invocations: int = 0
    billed_ms: int = 0  # each invocation's duration rounded up to the ms, summed
    memory_mb: int = 512
    log_bytes: int = 0  # the function's own lines (and EMF metric records)
    platform_log_bytes: int = 0  # Lambda's START/END/REPORT lines

    def gb_seconds(self) -> float:
        return self.billed_ms / 1000 * self.memory_mb / 1024


@dataclass
class Counts:
    """What `messages` messages used; everything per message scales linearly."""

    messages: int
    architecture: str
    functions: dict[str, FunctionUse] = field(default_factory=dict)
    sqs_requests: Counter[str] = field(default_factory=Counter)  # billed (64 KB chunks)
    dynamodb_requests: Counter[str] = field(default_factory=Counter)
    # request units by who asked (a function's logical id)
    write_units: dict[str, float] = field(default_factory=dict)
    read_units: dict[str, float] = field(default_factory=dict)
    stream_reads: int = 0
    api_requests: int = 0
    # Secrets Manager is read once per container and every 5 minutes (the cache's max age),
    # not per message: calls a million messages make over the time they take (measure()).
    secret_calls_per_million: float = 0
    events: int = 0  # EventBridge entries (64 KB chunks)
    item_bytes: int = 0  # what the messages leave in the table
    # per month, whatever the volume
    custom_metrics: int = 0
    secrets: int = 1
    kms_keys: int = 0
    dashboards: int = 0
    alarms: int = 0


@dataclass(frozen=True)
class Line:
    item: str
    dollars: float  # per million messages (or per month when `monthly`)
    detail: str
    monthly: bool = False


def bill(counts: Counts, prices: dict[str, Any]) -> list[Line]:
    """The AWS bill of one million messages, item by item, from the counts and the prices."""
    scale = MILLION / counts.messages
    lam, sqs, ddb = prices["lambda"], prices["sqs"], prices["dynamodb"]
    cw = prices["cloudwatch"]
    lines: list[Line] = []
    invocations = sum(f.invocations for f in counts.functions.values())
    if invocations:
        lines.append(
            Line(
                "Lambda requests",
                invocations * scale * lam["requests_per_million"] / MILLION,
                ", ".join(
                    f"{name} {f.invocations * scale:,.0f}" for name, f in counts.functions.items()
                ),
            )
        )
        gbs = {name: f.gb_seconds() * scale for name, f in counts.functions.items()}
        lines.append(
            Line(
                f"Lambda GB-seconds ({counts.architecture})",
                sum(gbs.values()) * lam["gb_second"][counts.architecture],
                ", ".join(f"{name} {v:,.0f}" for name, v in gbs.items()),
            )
        )
    sqs_total = sum(counts.sqs_requests.values())
    lines.append(
        Line(
            "SQS requests",
            sqs_total * scale * sqs["requests_per_million"] / MILLION,
            ", ".join(f"{op} {n * scale:,.0f}" for op, n in sorted(counts.sqs_requests.items())),
        )
    )
    wru, rru = sum(counts.write_units.values()), sum(counts.read_units.values())
    lines.append(
        Line(
            "DynamoDB writes (on-demand)",
            wru * scale * ddb["write_request_units_per_million"] / MILLION,
            f"{wru * scale:,.0f} WRU",
        )
    )
    lines.append(
        Line(
            "DynamoDB reads (on-demand)",
            rru * scale * ddb["read_request_units_per_million"] / MILLION,
            f"{rru * scale:,.0f} RRU",
        )
    )
    if counts.stream_reads:
        free = ddb["stream_reads_by_lambda_free"]
        lines.append(
            Line(
                "DynamoDB stream reads",
                0.0
                if free
                else counts.stream_reads * scale * ddb["stream_read_requests_per_100k"] / 100_000,
                f"{counts.stream_reads * scale:,.0f} GetRecords"
                + (" (free when Lambda reads)" if free else ""),
            )
        )
    lines.append(
        Line(
            "DynamoDB storage (a month)",
            counts.item_bytes * scale / 1024**3 * ddb["storage_gb_month"],
            f"{counts.item_bytes * scale / 1024**3:,.2f} GB",
        )
    )
    if counts.api_requests:
        lines.append(
            Line(
                "API Gateway REST requests",
                counts.api_requests
                * scale
                * prices["api_gateway_rest"]["requests_per_million"]
                / MILLION,
                f"{counts.api_requests * scale:,.0f}",
            )
        )
    secret_calls = counts.secret_calls_per_million
    lines.append(
        Line(
            "Secrets Manager calls",
            secret_calls * prices["secrets_manager"]["api_calls_per_10k"] / 10_000,
            f"{secret_calls:,.0f} GetSecretValue (once per container and 5 minutes)",
        )
    )
    log_bytes = sum(f.log_bytes + f.platform_log_bytes for f in counts.functions.values())
    lines.append(
        Line(
            "CloudWatch Logs ingestion",
            log_bytes * scale / 1024**3 * cw["logs_ingested_per_gb"],
            f"{log_bytes * scale / 1024**3:,.2f} GB ("
            + ", ".join(
                f"{name} {(f.log_bytes + f.platform_log_bytes) / counts.messages:,.0f} B/msg"
                for name, f in counts.functions.items()
            )
            + ")",
        )
    )
    lines.append(
        Line(
            "KMS requests",
            secret_calls * prices["kms"]["requests_per_10k"] / 10_000,
            f"{secret_calls:,.0f} (Secrets Manager decrypts the secret at each read)",
        )
    )
    lines.append(
        Line(
            "EventBridge events",
            counts.events * scale * prices["eventbridge"]["custom_events_per_million"] / MILLION,
            f"{counts.events * scale:,.0f}",
        )
    )
    lines.append(
        Line(
            "Monthly: metrics, dashboard, alarms, secret, KMS key",
            counts.custom_metrics * cw["custom_metric_month"]
            + counts.dashboards * cw["dashboard_month"]
            + counts.alarms * cw["alarm_month"]
            + counts.secrets * prices["secrets_manager"]["secret_month"]
            + counts.kms_keys * prices["kms"]["key_month"],
            f"{counts.custom_metrics} custom metrics, {counts.dashboards} dashboard, "
            f"{counts.alarms} alarms, {counts.secrets} secret, {counts.kms_keys} KMS key",
            monthly=True,
        )
    )
    return lines


def per_message(ours: Counts, sender: FunctionUse, single: Counts) -> Counts:
    """A Lambda per message: the sender invoked with one message each time (`sender` and
    `single`: measured so, over `single.messages` messages); its queue received and deleted
    one message a request (the event source mapping's requests here are all the send
    queue's); everything else as ours."""
    scale = ours.messages / single.messages
    functions = dict(ours.functions)
    functions["SenderFunction"] = FunctionUse(
        invocations=round(sender.invocations * scale),
        billed_ms=round(sender.billed_ms * scale),
        memory_mb=sender.memory_mb,
        log_bytes=round(sender.log_bytes * scale),
        platform_log_bytes=round(sender.platform_log_bytes * scale),
    )
    sqs = Counter(ours.sqs_requests)
    sqs["ReceiveMessage"] = ours.messages
    sqs["DeleteMessage"] = ours.messages
    sqs.pop("DeleteMessageBatch", None)
    writes, reads = dict(ours.write_units), dict(ours.read_units)
    writes["SenderFunction"] = single.write_units.get("SenderFunction", 0) * scale
    reads["SenderFunction"] = single.read_units.get("SenderFunction", 0) * scale
    return replace(
        ours, functions=functions, sqs_requests=sqs, write_units=writes, read_units=reads
    )


def container(ours: Counts, prices: dict[str, Any], vcpu_needed: float) -> list[Line]:
    """An always-on container: the smallest Fargate task holding the rate limit (at least
    `vcpu_needed`), a load balancer for the platform's reports, and ours' AWS requests
    without Lambda or API Gateway; its log lines are the functions' own."""
    fargate = prices["fargate"][ours.architecture]
    smallest = prices["fargate"]["smallest"]
    vcpu = max(smallest["vcpu"], 2 ** math.ceil(math.log2(max(vcpu_needed, 1e-9) / 0.25)) / 4)
    gb = max(smallest["gb"], 2 * vcpu)
    hours = prices["hours_per_month"]
    task = hours * (vcpu * fargate["vcpu_hour"] + gb * fargate["gb_hour"])
    alb = hours * (prices["alb"]["hour"] + prices["alb"]["lcu_hour"])
    lines = [
        Line(
            f"Fargate task ({ours.architecture})",
            task,
            f"{vcpu:g} vCPU, {gb:g} GB, {hours} h (needs {vcpu_needed:.3f} vCPU)",
            monthly=True,
        ),
        Line("Load balancer for the reports", alb, f"{hours} h, 1 LCU", monthly=True),
    ]
    app_only = replace(
        ours,
        functions={
            name: FunctionUse(memory_mb=f.memory_mb, log_bytes=f.log_bytes)
            for name, f in ours.functions.items()
        },
        api_requests=0,
    )
    lines += [line for line in bill(app_only, prices) if not line.item.startswith("Lambda GB")]
    return [line for line in lines if line.item != "Lambda requests"]


def total(lines: Iterable[Line]) -> tuple[float, float]:
    """(per million messages, per month whatever the volume)."""
    lines = list(lines)
    return (
        sum(line.dollars for line in lines if not line.monthly),
        sum(line.dollars for line in lines if line.monthly),
    )


# -- measuring -----------------------------------------------------------------------------


def attribute_size(value: dict[str, Any]) -> int:
    """DynamoDB's size of one attribute value (its documented item-size rules)."""
    ((kind, data),) = value.items()
    if kind == "S":
        return len(data.encode())
    if kind == "N":
        digits = data.lstrip("-").replace(".", "").lstrip("0") or "0"
        return (len(digits) + 1) // 2 + 1
    if kind == "B":
        return len(base64.b64decode(data))
    if kind in ("BOOL", "NULL"):
        return 1
    if kind in ("SS", "NS", "BS"):
        return sum(attribute_size({kind[0]: v}) for v in data)
    if kind == "L":
        return 3 + sum(1 + attribute_size(v) for v in data)
    return 3 + sum(1 + item_size({k: v}) for k, v in data.items())  # M


def item_size(item: dict[str, Any]) -> int:
    return sum(len(name.encode()) + attribute_size(v) for name, v in item.items())


def key_of(table: str, key: dict[str, Any]) -> str:
    return json.dumps([table, key], sort_keys=True)


@dataclass
class Call:
    who: str  # a function's logical id, "mapping" (event source mappings) or "producer"
    service: str
    operation: str
    request: dict[str, Any]
    response: dict[str, Any]
    size: int  # the larger of the request and the response, bytes


class Recorder:
    """A WSGI layer in front of the emulated AWS: one Call per request, whoever sends it."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.calls: list[Call] = []
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        answer = b"".join(self.app(environ, start_response))
        auth = environ.get("HTTP_AUTHORIZATION", "")
        service = auth.split("Credential=", 1)[1].split("/")[3] if "Credential=" in auth else "?"
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        operation = target.rpartition(".")[2] or environ.get("REQUEST_METHOD", "?")
        if target.startswith("DynamoDBStreams"):
            service = "dynamodbstreams"
        agent = environ.get("HTTP_USER_AGENT", "")
        who = next((p[4:] for p in agent.split() if p.startswith("app/")), "mapping")
        call = Call(
            who, service, operation, _json(body), _json(answer), max(len(body), len(answer))
        )
        with self.lock:
            self.calls.append(call)
        return iter([answer])

    def take(self) -> list[Call]:
        with self.lock:
            calls, self.calls = self.calls, []
        return calls


def _json(data: bytes) -> dict[str, Any]:
    try:
        value = json.loads(data or b"{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


@dataclass
class Run:
    """Durations, log bytes, EMF metrics and API requests, by function, as they happen."""

    billed_ms: dict[str, list[int]] = field(default_factory=dict)
    invocations: Counter[str] = field(default_factory=Counter)
    log_bytes: Counter[str] = field(default_factory=Counter)
    platform_bytes: Counter[str] = field(default_factory=Counter)
    metrics: set[tuple[str, str, tuple[tuple[str, str], ...]]] = field(default_factory=set)
    api_requests: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def invoked(self, function: str, memory: int, seconds: float) -> None:
        billed = max(1, math.ceil(seconds * 1000))
        request = str(uuid.uuid4())
        platform = sum(
            len(line.format(id=request, ms=seconds * 1000, billed=billed, memory=memory)) + 1
            for line in PLATFORM_LINES
        )
        with self.lock:
            self.billed_ms.setdefault(function, []).append(billed)
            self.invocations[function] += 1
            self.platform_bytes[function] += platform

    def logged(self, function: str, line: str) -> None:
        with self.lock:
            self.log_bytes[function] += len(line.encode()) + 1
        if '"_aws"' in line:
            self.metrics.update(emf_metrics(line))

    def snapshot(self) -> Run:
        with self.lock:
            return Run(
                {k: list(v) for k, v in self.billed_ms.items()},
                Counter(self.invocations),
                Counter(self.log_bytes),
                Counter(self.platform_bytes),
                set(self.metrics),
                self.api_requests,
            )


def emf_metrics(line: str) -> set[tuple[str, str, tuple[tuple[str, str], ...]]]:
    """The distinct metrics (namespace, name, dimensions) one EMF record publishes."""
    try:
        record = json.loads(line)
    except ValueError:
        return set()
    found = set()
    for directive in record.get("_aws", {}).get("CloudWatchMetrics", []):
        for dimensions in directive.get("Dimensions", [[]]):
            dims = tuple(sorted((d, str(record.get(d))) for d in dimensions))
            for metric in directive.get("Metrics", []):
                found.add((directive.get("Namespace", ""), metric["Name"], dims))
    return found


def tally(calls: list[Call], sizes: dict[str, int], counts: Counts, queue: str) -> Counter[str]:
    """Adds the calls' billed units to `counts`: SQS requests in 64 KB chunks (the event
    source mappings' on the send `queue` only, receives that found nothing left out),
    DynamoDB units from item sizes, the rest by request. Returns the secret's reads by
    function."""
    secret_reads: Counter[str] = Counter()
    for call in calls:
        mapping = call.service == "sqs" and call.who == "mapping"
        if mapping and call.request.get("QueueUrl") != queue:
            continue  # another queue's (the media queue's), or the mapping's set-up
        if call.service == "sqs":
            if call.operation == "ReceiveMessage" and not call.response.get("Messages"):
                continue
            counts.sqs_requests[call.operation] += max(1, math.ceil(call.size / 65536))
        elif call.service == "dynamodb":
            counts.dynamodb_requests[call.operation] += 1
            writes, reads = dynamodb_units(call, sizes)
            counts.write_units[call.who] = counts.write_units.get(call.who, 0) + writes
            counts.read_units[call.who] = counts.read_units.get(call.who, 0) + reads
        elif call.service == "dynamodbstreams" and call.operation == "GetRecords":
            counts.stream_reads += 1
        elif call.service == "secretsmanager" and call.operation == "GetSecretValue":
            secret_reads[call.who] += 1
        elif call.service == "events" and call.operation == "PutEvents":
            counts.events += sum(
                max(1, math.ceil(len(json.dumps(e)) / 65536))
                for e in call.request.get("Entries", [])
            )
    return secret_reads


def dynamodb_units(call: Call, sizes: dict[str, int]) -> tuple[float, float]:
    """(write units, read units) of one request: a write of an item is ceil(size / 1 KB)
    (the item as it ended up in the table; twice in a transaction), a read ceil(size / 4 KB)
    (half when eventually consistent), a query its items' total size."""
    request, response, op = call.request, call.response, call.operation

    def write(table: str, key: dict[str, Any], item: dict[str, Any] | None = None) -> int:
        size = item_size(item) if item else sizes.get(key_of(table, key), 1)
        return max(1, math.ceil(size / 1024))

    def read(size: int, consistent: bool) -> float:
        units = max(1, math.ceil(size / 4096))
        return units if consistent else units / 2

    consistent = bool(request.get("ConsistentRead"))
    if op == "PutItem":
        return write(request["TableName"], {}, request["Item"]), 0
    if op in ("UpdateItem", "DeleteItem"):
        return write(request["TableName"], request["Key"]), 0
    if op == "TransactWriteItems":
        units: float = 0
        for entry in request.get("TransactItems", []):
            ((kind, spec),) = entry.items()
            if kind == "Put":
                units += 2 * write(spec["TableName"], {}, spec["Item"])
            else:
                units += 2 * write(spec["TableName"], spec["Key"])
        return units, 0
    if op == "GetItem":
        return 0, read(item_size(response.get("Item") or {}), consistent)
    if op == "BatchGetItem":
        units = 0
        for table, spec in request.get("RequestItems", {}).items():
            found = response.get("Responses", {}).get(table, [])
            units += sum(read(item_size(i), bool(spec.get("ConsistentRead"))) for i in found)
            missing = len(spec.get("Keys", [])) - len(found)
            units += missing * read(0, bool(spec.get("ConsistentRead")))
        return 0, units
    if op == "Query":
        return 0, read(sum(item_size(i) for i in response.get("Items", [])), consistent)
    return 0, 0


def template_counts() -> dict[str, int]:
    """Monthly items that the template itself makes: dashboards, alarms, KMS keys."""
    kinds = Counter(r["Type"] for r in template()["Resources"].values())
    return {
        "dashboards": kinds["AWS::CloudWatch::Dashboard"],
        "alarms": kinds["AWS::CloudWatch::Alarm"],
        "kms_keys": kinds["AWS::KMS::Key"],
    }


def uses(run: Run, memory: dict[str, int], names: Iterable[str]) -> dict[str, FunctionUse]:
    """Each function's use; its billed time is its invocations times their median duration
    (a local worker process's first invocation waits for its start, which Lambda's warm
    containers do not)."""
    return {
        name: FunctionUse(
            invocations=run.invocations[name],
            billed_ms=round(run.invocations[name] * statistics.median(run.billed_ms[name])),
            memory_mb=memory[name],
            log_bytes=run.log_bytes[name],
            platform_log_bytes=run.platform_bytes[name],
        )
        for name in names
    }


def diff(after: Run, before: Run) -> Run:
    return Run(
        {k: v[len(before.billed_ms.get(k, [])) :] for k, v in after.billed_ms.items()},
        after.invocations - before.invocations,
        after.log_bytes - before.log_bytes,
        after.platform_bytes - before.platform_bytes,
        after.metrics - before.metrics,
        after.api_requests - before.api_requests,
    )


def wait_for(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.5)


@dataclass
class Measured:
    ours: Counts
    single: Counts  # the sender, one message an invocation
    single_sender: FunctionUse
    vcpu_needed: float
    rate_limit: float


def measure() -> Measured:
    """Runs the scenario on the local stack; then SINGLES sends through the sender one
    message an invocation (the per-message design)."""
    import boto3
    from botocore.config import Config

    from bench.common import sqs_record, text_body
    from messaggio_local.lambdas import Function
    from messaggio_local.stack import LocalStack
    from messaggio_sandbox import Scenario

    run = Run()
    recorders: list[Recorder] = []

    class Counted(LocalStack):
        """The local stack with the AWS boundary recorded, each function's requests signed
        with its name (the SDK's app id), each invocation timed and each API call counted."""

        def _serve_moto(self) -> Any:
            server = super()._serve_moto()
            recorders.append(Recorder(server.app))
            server.app = recorders[-1]
            return server

        def _function(self, logical: str, res: dict[str, Any], glob: dict[str, Any]) -> Function:
            function = super()._function(logical, res, glob)
            function.environment["AWS_SDK_UA_APP_ID"] = logical
            return function

        def invoke(self, function: Function, event: dict[str, Any]) -> Any:
            started = time.monotonic()
            try:
                return super().invoke(function, event)
            finally:
                run.invoked(function.logical_id, function.memory, time.monotonic() - started)

        def route(self, method: str, path: str) -> Any:
            found = super().route(method, path)
            if found is not None:
                with run.lock:
                    run.api_requests += 1
            return found

    parameters = {k: v.get("Default") for k, v in template()["Parameters"].items()}
    architecture = str(parameters["Architecture"])
    rate_limit = float(parameters["MessaggioRateLimit"])
    with Counted(log=lambda _: None, function_log=run.logged) as stack:
        (recorder,) = recorders
        assert stack.sandbox is not None
        sandbox = stack.sandbox
        sandbox.scenario = Scenario.seen()
        for i in range(MESSAGES):
            if i % REPLY_EVERY == REPLY_EVERY - 1:
                sandbox.scenario_for(phone(i), Scenario.reply("Thanks, see you"))
        memory = {name: f.memory for name, f in stack.functions.items()}
        table = stack.output("MessagesTable")
        queue = stack.output("SendQueue")
        # the SDK's app id names the producer's requests (botocore's stubs lack the option)
        appid: dict[str, Any] = {"user_agent_appid": "producer"}
        producer = boto3.client("sqs", config=Config(**appid))
        recorder.take()
        before = run.snapshot()
        cpu_before = workers_cpu()
        for i in range(MESSAGES):
            producer.send_message(QueueUrl=queue, MessageBody=text_body(f"cost-{i}", phone(i)))
        reports = 2 * MESSAGES + MESSAGES // REPLY_EVERY
        timeout = 60 + MESSAGES / rate_limit * 3
        wait_for(lambda: len(sandbox.sends()) >= MESSAGES, timeout, "the sends")
        wait_for(lambda: run.invocations["CallbacksFunction"] >= reports, timeout, "the reports")
        settled(run)
        if not all(r.accepted for r in sandbox.sends()):
            raise RuntimeError("a send was not accepted by the platform")
        calls = recorder.take()
        cpu = cpu_used(cpu_before, workers_cpu())
        fixed = template_counts()
        ours = Counts(
            MESSAGES,
            architecture,
            dashboards=fixed["dashboards"],
            alarms=fixed["alarms"],
            kms_keys=fixed["kms_keys"],
        )
        measured = diff(run.snapshot(), before)
        ours.functions = uses(measured, memory, SCENARIO)
        ours.api_requests = measured.api_requests
        ours.custom_metrics = len(run.metrics)
        sizes = table_sizes(table)
        ours.item_bytes = sum(sizes.values())
        reads = tally(calls, sizes, ours, queue)
        # The run is shorter than the secret's 5 minutes: each read is a container's first.
        # A million messages take MILLION / rate seconds; each container reads every 300 s.
        ours.secret_calls_per_million = sum(reads.values()) * MILLION / rate_limit / 300
        recorder.take()

        # The per-message design: the same sends, one an invocation.
        sender = stack.functions["SenderFunction"]
        arn = sender.sqs[0].queue_arn
        before = run.snapshot()
        for i in range(SINGLES):
            ptid = f"cost-single-{i}"
            record = sqs_record(f"single-{i}", text_body(ptid, phone(MESSAGES + i)))
            record["eventSourceARN"] = arn
            answer = stack.invoke(sender, {"Records": [record]})
            if answer != {"batchItemFailures": []}:
                raise RuntimeError(f"single send {ptid}: {answer}")
            time.sleep(2 / rate_limit)  # within the rate: a send never waits for the pacer
        settled(run)
        single_calls = [c for c in recorder.take() if c.who == "SenderFunction"]
        single_run = diff(run.snapshot(), before)
        single = Counts(SINGLES, architecture)
        tally(single_calls, table_sizes(table), single, queue)
        single_sender = uses(single_run, memory, ["SenderFunction"])["SenderFunction"]
    # One process doing all of it at the rate limit needs the CPU the functions used per
    # message, rate_limit times a second.
    return Measured(ours, single, single_sender, rate_limit * cpu / MESSAGES, rate_limit)


def workers_cpu() -> dict[int, tuple[str, float]]:
    """The local stack's function processes (our children running messaggio_local.runtime):
    pid -> (function, CPU seconds used so far), from /proc."""
    found: dict[int, tuple[str, float]] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            args = (entry / "cmdline").read_bytes().decode().split("\0")
        except OSError:
            continue
        fields = stat.rpartition(")")[2].split()
        if int(fields[1]) != os.getpid() or "messaggio_local.runtime" not in args:
            continue
        name = args[args.index("messaggio_local.runtime") + 3]
        found[int(entry.name)] = (name, (int(fields[11]) + int(fields[12])) / tick)
    return found


def cpu_used(before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]]) -> float:
    """CPU seconds the function processes spent between two readings; a process started in
    between is charged what it used less a started process's (its imports and set-up, which
    a container makes once)."""
    started = statistics.median([cpu for _, cpu in before.values()] or [0.0])
    return sum(
        cpu - (before[pid][1] if pid in before else min(started, cpu))
        for pid, (_, cpu) in after.items()
    )


def settled(run: Run, quiet: float = 3.0) -> None:
    """Until no function has been invoked for `quiet` seconds (the stream, the deletes)."""
    last = -1
    while True:
        now = sum(run.snapshot().invocations.values())
        if now == last:
            return
        last = now
        time.sleep(quiet)


def table_sizes(table: str) -> dict[str, int]:
    import boto3

    sizes: dict[str, int] = {}
    for page in boto3.client("dynamodb").get_paginator("scan").paginate(TableName=table):
        for item in page["Items"]:
            key = {"pk": item["pk"], "sk": item["sk"]}
            sizes[key_of(table, key)] = item_size(dict(item))
    return sizes


# -- printing ------------------------------------------------------------------------------


def dollars(value: float) -> str:
    return f"${value:,.2f}" if value >= 0.01 or value == 0 else f"${value:,.4f}"


def show(title: str, lines: list[Line]) -> None:
    note(f"{title}:")
    for line in lines:
        when = "a month" if line.monthly else ""
        note(f"  {line.item:<52} {dollars(line.dollars):>10} {when:<8} {line.detail}")
    per_million, monthly = total(lines)
    note(
        f"  {'total':<52} {dollars(per_million):>10} per million messages + "
        f"{dollars(monthly)} a month"
    )


def main() -> None:
    prices = json.loads(PRICES.read_text())
    header(
        8,
        "What a million messages cost",
        f"{MESSAGES} one-recipient Viber texts on the local stack (delivered + seen, one in "
        f"{REPLY_EVERY} replied), scaled to 1,000,000; prices {prices['region']} "
        f"as of {prices['as_of']} ({PRICES.name})",
    )
    measured = measure()
    ours = measured.ours
    per_msg = {op: n / ours.messages for op, n in ours.dynamodb_requests.items()}
    note(
        "measured per message: DynamoDB "
        + ", ".join(f"{op} {n:.2f}" for op, n in sorted(per_msg.items()))
        + f"; {sum(ours.write_units.values()) / ours.messages:.2f} WRU, "
        f"{sum(ours.read_units.values()) / ours.messages:.2f} RRU; "
        f"{ours.item_bytes / ours.messages:.0f} B stored per message"
    )
    for name, f in ours.functions.items():
        note(
            f"  {name}: {f.invocations} invocations, {f.billed_ms / max(1, f.invocations):.0f} ms "
            f"each at {f.memory_mb} MB, {f.log_bytes / ours.messages:.0f} B of log lines "
            f"+ {f.platform_log_bytes / ours.messages:.0f} B of Lambda's per message"
        )
    designs = {
        "ours (batches, this template)": bill(ours, prices),
        "a Lambda per message": bill(
            per_message(ours, measured.single_sender, measured.single), prices
        ),
        "an always-on container": container(ours, prices, measured.vcpu_needed),
    }
    for title, lines in designs.items():
        show(title, lines)
    note("")
    note(f"  {'design':<34} {'per 1M msgs':>12} {'+ a month':>10} {'a month of 1M':>14}")
    for title, lines in designs.items():
        per_million, monthly = total(lines)
        note(
            f"  {title:<34} {dollars(per_million):>12} {dollars(monthly):>10} "
            f"{dollars(per_million + monthly):>14}"
        )
    note(
        f"a month of 1M messages is {MILLION / measured.rate_limit / 3600:.1f} h of sending at "
        f"the rate limit ({measured.rate_limit:g}/s); the container runs all month"
    )


if __name__ == "__main__":
    main()
