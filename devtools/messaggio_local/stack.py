"""The whole product on this machine: moto_server for AWS, the sandbox platform (or any
platform URL), the REST API served as API Gateway would, SQS queues polled as Lambda's event
source mapping would, and the real handlers named by template.yaml.

Everything is read from template.yaml (queues, redrive, table keys and TTL, bucket and its
notifications, functions' handlers, environment and event sources), so the local run cannot
drift from what is deployed. Two things are compressed in time, and say so: queue visibility
timeouts (a failed record comes back after `visibility` seconds, not minutes) and the
sender's account back-off.
"""

from __future__ import annotations

import base64
import importlib
import json
import logging
import os
import re
import secrets
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
from moto.server import ThreadedMotoServer

from messaggio_local.moto_atomic import make_dynamodb_atomic
from messaggio_local.resolve import Context
from messaggio_local.template import ROOT, template
from messaggio_sandbox import SandboxPlatform

ACCOUNT = "123456789012"
REGION = "eu-west-1"
STACK = "messaggio-connector"
LOGIN = "acme"
SECRET_KEY = "s3cr3t-Key"  # noqa: S105 (the sandbox's published test account)


@dataclass
class SqsSource:
    queue_arn: str
    batch_size: int
    report_failures: bool


@dataclass
class Route:
    method: str
    path: str  # "/callbacks/{token}"
    pattern: re.Pattern[str]


@dataclass
class Function:
    logical_id: str
    code_uri: Path
    handler: str
    environment: dict[str, str]
    timeout: int
    sqs: list[SqsSource] = field(default_factory=list)
    routes: list[Route] = field(default_factory=list)
    _entry: Callable[[dict[str, Any], Any], Any] | None = None

    def entry(self) -> Callable[[dict[str, Any], Any], Any]:
        """The real handler, imported as Lambda would (CodeUri and the layer on sys.path)."""
        if self._entry is None:
            for path in (str(self.code_uri), str(ROOT / "layers" / "shared")):
                if path not in sys.path:
                    sys.path.insert(0, path)
            module, _, name = self.handler.rpartition(".")
            self._entry = getattr(importlib.import_module(module), name)
        return self._entry


@dataclass
class LambdaContext:
    """The Lambda context the handlers read."""

    function_name: str
    timeout: int
    started: float = field(default_factory=time.monotonic)
    memory_limit_in_mb: int = 512
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.timeout - (time.monotonic() - self.started)) * 1000))


class LocalStack:
    def __init__(
        self,
        *,
        send_url: str | None = None,
        media_url: str | None = None,
        api_port: int = 0,
        aws_port: int = 0,
        visibility: int = 3,
        account_backoff: int = 5,
        parameters: dict[str, str] | None = None,
        log: Callable[[str], None] = print,
    ) -> None:
        self.visibility = visibility
        self.account_backoff = account_backoff
        self.log = log
        self._api_port = api_port
        self._aws_port = aws_port
        self._parameters = dict(parameters or {})
        self._send_url, self._media_url = send_url, media_url
        self.sandbox: SandboxPlatform | None = None
        self.callback_token = secrets.token_urlsafe(24)
        self._moto: ThreadedMotoServer | None = None
        self._api: ThreadingHTTPServer | None = None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.functions: dict[str, Function] = {}
        self.queues: dict[str, str] = {}  # logical id -> URL
        self.ctx: Context | None = None
        self.invocations: dict[str, int] = {}
        self._lock = threading.Lock()

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> LocalStack:
        make_dynamodb_atomic()
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self._moto = ThreadedMotoServer(ip_address="127.0.0.1", port=self._aws_port, verbose=False)
        self._moto.start()
        host, port = self._moto.get_host_and_port()
        self.aws_endpoint = f"http://{host}:{port}"
        os.environ.update(
            {
                "AWS_ENDPOINT_URL": self.aws_endpoint,
                "AWS_ACCESS_KEY_ID": "local",
                "AWS_SECRET_ACCESS_KEY": "local",
                "AWS_DEFAULT_REGION": REGION,
                "AWS_REGION": REGION,
                "POWERTOOLS_TRACE_DISABLED": "true",
            }
        )
        os.environ.pop("AWS_PROFILE", None)
        self._api = ThreadingHTTPServer(("127.0.0.1", self._api_port), _api_handler(self))
        self._api.daemon_threads = True
        self.api_url = f"http://127.0.0.1:{self._api.server_address[1]}"
        self._spawn(self._api.serve_forever, "api")
        if self._send_url is None or self._media_url is None:
            self.sandbox = SandboxPlatform(accounts={LOGIN: SECRET_KEY}, report_method="POST")
            self.sandbox.start()
            self._send_url = self._send_url or self.sandbox.send_url
            self._media_url = self._media_url or self.sandbox.media_url
        self._build()
        if self.sandbox is not None:
            self.sandbox.callback_url = self.callback_url
        for function in self.functions.values():
            for source in function.sqs:
                self._spawn(_bind(self._poll, function, source), function.logical_id)
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._api is not None:
            self._api.shutdown()
            self._api.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        if self.sandbox is not None:
            self.sandbox.stop()
        if self._moto is not None:
            self._moto.stop()

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _spawn(self, target: Callable[[], None], name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    # -- what the template says ------------------------------------------------------------

    @property
    def stage(self) -> str:
        for resource in template()["Resources"].values():
            if resource["Type"] == "AWS::Serverless::Api":
                return str(resource["Properties"].get("StageName", "v1"))
        return "v1"

    @property
    def callback_url(self) -> str:
        return f"{self.api_url}/{self.stage}/callbacks/{self.callback_token}"

    def output(self, logical_id: str) -> str:
        assert self.ctx is not None
        return str(self.ctx.ref(logical_id))

    def _build(self) -> None:
        tpl = template()
        parameters = {
            name: str(spec.get("Default", "")) for name, spec in tpl.get("Parameters", {}).items()
        }
        assert self._send_url is not None and self._media_url is not None
        parameters.update(
            {"MessaggioSendUrl": self._send_url, "MessaggioMediaUrl": self._media_url}
        )
        parameters.update(self._parameters)
        typed: dict[str, Any] = dict(parameters)
        for name, spec in tpl.get("Parameters", {}).items():
            if spec.get("Type") == "CommaDelimitedList":
                typed[name] = [p.strip() for p in parameters[name].split(",")]
        ctx = Context(
            parameters=typed,
            pseudo={
                "AWS::StackName": STACK,
                "AWS::AccountId": ACCOUNT,
                "AWS::Region": REGION,
                "AWS::Partition": "aws",
                "AWS::URLSuffix": "amazonaws.com",
            },
        )
        self.ctx = ctx
        for name, expr in tpl.get("Conditions", {}).items():
            ctx.conditions[name] = bool(ctx.resolve(expr))
        resources: dict[str, Any] = tpl["Resources"]
        by_type: dict[str, list[str]] = {}
        for logical, res in resources.items():
            by_type.setdefault(res["Type"], []).append(logical)
        dynamodb = boto3.client("dynamodb")
        for logical in by_type.get("AWS::DynamoDB::Table", []):
            self._table(dynamodb, logical, resources[logical]["Properties"])
        sqs = boto3.client("sqs")
        queues = by_type.get("AWS::SQS::Queue", [])
        # dead-letter queues first: the others name them in their redrive policy
        queues.sort(key=lambda q: "RedrivePolicy" in resources[q]["Properties"])
        for logical in queues:
            self._queue(sqs, logical, resources[logical]["Properties"])
        s3 = boto3.client("s3")
        for logical in by_type.get("AWS::S3::Bucket", []):
            self._bucket(s3, logical, resources[logical]["Properties"])
        for logical in by_type.get("AWS::Serverless::LayerVersion", []):
            ctx.refs[logical] = f"arn:aws:lambda:{REGION}:{ACCOUNT}:layer:{logical}:1"
        for logical in by_type.get("AWS::Serverless::Api", []):
            ctx.refs[logical] = "local"
        for logical in resources:
            ctx.refs.setdefault(logical, f"{STACK}-{logical}")
        self._secret()
        globals_env = tpl.get("Globals", {}).get("Function", {})
        for logical in by_type.get("AWS::Serverless::Function", []):
            self.functions[logical] = self._function(logical, resources[logical], globals_env)
        # One process hosts every function: their environments merge (they agree on shared
        # names by construction: the template sets them from the same parameters).
        for function in self.functions.values():
            os.environ.update(function.environment)
        os.environ["ACCOUNT_BACKOFF_SECONDS"] = str(self.account_backoff)

    def _table(self, client: Any, logical: str, props: dict[str, Any]) -> None:
        assert self.ctx is not None
        name = f"{STACK}-{logical}"
        client.create_table(
            TableName=name,
            AttributeDefinitions=props["AttributeDefinitions"],
            KeySchema=props["KeySchema"],
            BillingMode=props.get("BillingMode", "PAY_PER_REQUEST"),
        )
        ttl = props.get("TimeToLiveSpecification")
        if ttl:
            client.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["AttributeName"]},
            )
        self.ctx.refs[logical] = name
        self.ctx.attrs[logical] = {"Arn": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}"}

    def _queue(self, client: Any, logical: str, props: dict[str, Any]) -> None:
        assert self.ctx is not None
        props = self.ctx.resolve(props)
        name = props.get("QueueName", f"{STACK}-{logical}")
        attributes: dict[str, str] = {"VisibilityTimeout": str(self.visibility)}
        if "MessageRetentionPeriod" in props:
            attributes["MessageRetentionPeriod"] = str(props["MessageRetentionPeriod"])
        if "RedrivePolicy" in props:
            redrive = props["RedrivePolicy"]
            attributes["RedrivePolicy"] = json.dumps(
                {
                    "deadLetterTargetArn": redrive["deadLetterTargetArn"],
                    "maxReceiveCount": str(redrive["maxReceiveCount"]),
                }
            )
        url = client.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        arn = f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}"
        self.queues[logical] = url
        self.ctx.refs[logical] = url
        self.ctx.attrs[logical] = {"Arn": arn, "QueueName": name, "QueueUrl": url}

    def _bucket(self, client: Any, logical: str, props: dict[str, Any]) -> None:
        assert self.ctx is not None
        props = self.ctx.resolve(props)
        name = props.get("BucketName", f"{STACK}-{logical}".lower())
        client.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
        queues = props.get("NotificationConfiguration", {}).get("QueueConfigurations", [])
        if queues:
            client.put_bucket_notification_configuration(
                Bucket=name,
                NotificationConfiguration={
                    "QueueConfigurations": [
                        {"QueueArn": q["Queue"], "Events": [q["Event"]]} for q in queues
                    ]
                },
            )
        self.ctx.refs[logical] = name
        self.ctx.attrs[logical] = {"Arn": f"arn:aws:s3:::{name}"}

    def _secret(self) -> None:
        assert self.ctx is not None
        boto3.client("secretsmanager").create_secret(
            Name=self.ctx.parameters["MessaggioSecretId"],
            SecretString=json.dumps(
                {"login": LOGIN, "secret_key": SECRET_KEY, "callback_token": self.callback_token}
            ),
        )

    def _function(self, logical: str, res: dict[str, Any], glob: dict[str, Any]) -> Function:
        assert self.ctx is not None
        props = self.ctx.resolve(res["Properties"])
        env = dict(self.ctx.resolve(glob.get("Environment", {}).get("Variables", {})))
        env.update(props.get("Environment", {}).get("Variables", {}))
        function = Function(
            logical_id=logical,
            code_uri=ROOT / props["CodeUri"],
            handler=props["Handler"],
            environment={k: str(v) for k, v in env.items()},
            timeout=int(props.get("Timeout", glob.get("Timeout", 3))),
        )
        for event in props.get("Events", {}).values():
            spec = event["Properties"]
            if event["Type"] == "SQS":
                function.sqs.append(
                    SqsSource(
                        queue_arn=spec["Queue"],
                        batch_size=int(spec.get("BatchSize", 10)),
                        report_failures="ReportBatchItemFailures"
                        in spec.get("FunctionResponseTypes", []),
                    )
                )
            elif event["Type"] == "Api":
                path = spec["Path"]
                pattern = re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", path) + "$")
                function.routes.append(Route(spec["Method"].upper(), path, pattern))
        return function

    # -- the event source mapping ----------------------------------------------------------

    def invoke(self, function: Function, event: dict[str, Any]) -> Any:
        with self._lock:
            self.invocations[function.logical_id] = self.invocations.get(function.logical_id, 0) + 1
        return function.entry()(event, LambdaContext(function.logical_id, function.timeout))

    def _poll(self, function: Function, source: SqsSource) -> None:
        sqs = boto3.client("sqs")
        name = source.queue_arn.rsplit(":", 1)[1]
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        while not self._stop.is_set():
            try:
                got = sqs.receive_message(
                    QueueUrl=url,
                    MaxNumberOfMessages=min(source.batch_size, 10),
                    WaitTimeSeconds=1,
                    AttributeNames=["All"],
                    MessageAttributeNames=["All"],
                ).get("Messages", [])
            except Exception as exc:  # the emulator stopping under us
                if self._stop.is_set():
                    return
                self.log(f"poll {name}: {exc}")
                time.sleep(0.5)
                continue
            if not got:
                continue
            while len(got) < source.batch_size:  # the poller gathers up to BatchSize
                more = sqs.receive_message(
                    QueueUrl=url,
                    MaxNumberOfMessages=min(source.batch_size - len(got), 10),
                    AttributeNames=["All"],
                    MessageAttributeNames=["All"],
                ).get("Messages", [])
                if not more:
                    break
                got.extend(more)
            records = [_record(m, source.queue_arn) for m in got]
            try:
                answer = self.invoke(function, {"Records": records})
                failed = {f["itemIdentifier"] for f in (answer or {}).get("batchItemFailures", [])}
                if not source.report_failures:
                    failed = set()
            except Exception as exc:  # an invocation error: the whole batch comes back
                self.log(f"{function.logical_id} failed: {type(exc).__name__}: {exc}")
                failed = {r["messageId"] for r in records}
            done = [m for m in got if m["MessageId"] not in failed]
            for i in range(0, len(done), 10):
                sqs.delete_message_batch(
                    QueueUrl=url,
                    Entries=[
                        {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]}
                        for n, m in enumerate(done[i : i + 10])
                    ],
                )

    # -- the REST API ----------------------------------------------------------------------

    def route(self, method: str, path: str) -> tuple[Function, Route, dict[str, str]] | None:
        prefix = f"/{self.stage}"
        if not path.startswith(prefix + "/"):
            return None
        inner = path[len(prefix) :]
        for function in self.functions.values():
            for route in function.routes:
                match = route.pattern.match(inner)
                if match and route.method in (method, "ANY"):
                    return function, route, match.groupdict()
        return None


def _bind(
    fn: Callable[[Function, SqsSource], None], f: Function, s: SqsSource
) -> Callable[[], None]:
    return lambda: fn(f, s)


def _record(message: Any, queue_arn: str) -> dict[str, Any]:
    """An SQS message as Lambda's event source mapping hands it to the function."""
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message.get("Attributes", {}),
        "messageAttributes": message.get("MessageAttributes", {}),
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": REGION,
    }


def _api_handler(stack: LocalStack) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            return  # the handlers log; this would print phone-free but noisy lines

        def do_GET(self) -> None:
            self._serve()

        def do_POST(self) -> None:
            self._serve()

        def do_PUT(self) -> None:
            self._serve()

        def do_DELETE(self) -> None:
            self._serve()

        def __getattr__(self, name: str) -> Any:
            # API Gateway answers every method (403 where no route matches), never 501.
            if name.startswith("do_"):
                return self._serve
            raise AttributeError(name)

        def _serve(self) -> None:
            url = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            found = stack.route(self.command, url.path)
            if found is None:
                self._answer(
                    403,
                    {"Content-Type": "application/json"},
                    b'{"message":"Missing Authentication Token"}',
                )
                return
            function, route, params = found
            event = _rest_event(self, url, raw, route, params, stack.stage)
            try:
                answer = stack.invoke(function, event)
            except Exception as exc:
                stack.log(f"{function.logical_id} failed: {type(exc).__name__}: {exc}")
                self._answer(
                    502,
                    {"Content-Type": "application/json"},
                    b'{"message": "Internal server error"}',
                )
                return
            body = answer.get("body") or ""
            data = base64.b64decode(body) if answer.get("isBase64Encoded") else body.encode()
            headers = dict(answer.get("headers") or {})
            for name, values in (answer.get("multiValueHeaders") or {}).items():
                headers[name] = ", ".join(values)
            self._answer(int(answer.get("statusCode", 200)), headers, data)

        def _answer(self, status: int, headers: dict[str, str], data: bytes) -> None:
            self.send_response(status)
            for name, value in headers.items():
                if name.lower() != "content-length":
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

    return Handler


def _rest_event(
    request: BaseHTTPRequestHandler,
    url: Any,
    raw: bytes,
    route: Route,
    params: dict[str, str],
    stage: str,
) -> dict[str, Any]:
    """An API Gateway REST proxy event built from the real request."""
    multi_headers: dict[str, list[str]] = {}
    for name, value in request.headers.items():
        multi_headers.setdefault(name, []).append(value)
    query = parse_qs(url.query, keep_blank_values=True)
    try:
        body: str | None = raw.decode() if raw else None
        encoded = False
    except UnicodeDecodeError:
        body, encoded = base64.b64encode(raw).decode(), True
    path = url.path[len(stage) + 1 :]
    return {
        "resource": route.path,
        "path": path,
        "httpMethod": request.command,
        "headers": {k: v[-1] for k, v in multi_headers.items()},
        "multiValueHeaders": multi_headers,
        "queryStringParameters": {k: v[-1] for k, v in query.items()} or None,
        "multiValueQueryStringParameters": query or None,
        "pathParameters": params or None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": route.path,
            "httpMethod": request.command,
            "path": url.path,
            "stage": stage,
            "requestId": str(uuid.uuid4()),
            "requestTimeEpoch": int(time.time() * 1000),
            "accountId": ACCOUNT,
            "apiId": "local",
            "protocol": request.request_version,
            "identity": {
                "sourceIp": request.client_address[0],
                "userAgent": request.headers.get("User-Agent"),
            },
        },
        "body": body,
        "isBase64Encoded": encoded,
    }
