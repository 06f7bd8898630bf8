"""The whole product on this machine: moto_server for AWS, the sandbox platform (or any
platform URL), the REST API served as API Gateway would, SQS queues polled as Lambda's event
source mapping would, and the real handlers named by template.yaml, each function in processes
of its own with only its own environment (lambdas.py).

Everything is read from template.yaml (queues, redrive, table keys and TTL, bucket and its
notifications, functions' handlers, environment and event sources), so the local run cannot
drift from what is deployed. Two things are compressed in time, and say so: queue visibility
timeouts (a failed record comes back after `visibility` seconds, not minutes) and the
sender's account back-off. The local values of the functions' variables (`overrides`) apply
only to variables a function declares, as `sam local --env-vars` does.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

import boto3
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import BaseWSGIServer, make_server

from messaggio_local.lambdas import (
    DynamoDBSource,
    Function,
    Functions,
    InvocationError,
    Route,
    SqsSource,
)
from messaggio_local.moto_atomic import make_dynamodb_atomic
from messaggio_local.moto_events import make_eventbridge_fast
from messaggio_local.network import PeerCheck, listening
from messaggio_local.resolve import Context
from messaggio_local.resources import (
    CALLBACK_TOKEN,
    LOGIN,
    SECRET_KEY,
    capture_events,
    create_bucket,
    create_queue,
    create_secret,
    create_table,
)
from messaggio_local.streams import StreamSource
from messaggio_local.template import ACCOUNT, REGION, ROOT, template
from messaggio_sandbox import SandboxPlatform

STACK = "messaggio-connector"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local"}


class LocalStack:
    def __init__(
        self,
        *,
        send_url: str | None = None,
        media_url: str | None = None,
        api_port: int = 0,
        aws_port: int = 0,
        platform_port: int = 0,
        host: str = "127.0.0.1",
        peers: PeerCheck | None = None,
        callback_token: str = CALLBACK_TOKEN,
        visibility: int = 3,
        account_backoff: int = 5,
        parameters: dict[str, str] | None = None,
        log: Callable[[str], None] = print,
        function_log: Callable[[str, str], None] | None = None,
        event_sources: bool = True,
    ) -> None:
        """`host` "0.0.0.0" needs `peers`: who may connect (network.local_peers).
        `event_sources` False: no queue or stream is polled (a benchmark that invokes the
        functions itself, with nothing else running)."""
        if host not in ("127.0.0.1", "localhost") and peers is None:
            raise ValueError("a stack reachable beyond loopback needs a peer check")
        self.visibility = visibility
        self.account_backoff = account_backoff
        self.event_sources = event_sources
        self.log = log
        self.host = host
        self.peers = peers
        self._api_port = api_port
        self._aws_port = aws_port
        self._platform_port = platform_port
        self._parameters = dict(parameters or {})
        self._send_url, self._media_url = send_url, media_url
        self.sandbox: SandboxPlatform | None = None
        self.callback_token = callback_token
        self._moto: BaseWSGIServer | None = None
        self._api: ThreadingHTTPServer | None = None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.functions: dict[str, Function] = {}
        self.queues: dict[str, str] = {}  # logical id -> URL
        self.ctx: Context | None = None
        self.invocations: dict[str, int] = {}
        self._lock = threading.Lock()
        self._lambdas = Functions(CREDENTIALS, function_log or _print_line)

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> LocalStack:
        """Binds every port first (a taken one raises network.PortTaken, nothing started)."""
        make_dynamodb_atomic()
        make_eventbridge_fast()
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        moto = self._serve_moto()
        api = self._serve_api()
        try:
            if self._send_url is None or self._media_url is None:
                self.sandbox = SandboxPlatform(
                    host=self.host,
                    port=self._platform_port,
                    peers=self.peers,
                    accounts={LOGIN: SECRET_KEY},
                    report_method="POST",
                )
                listening(
                    "the sandbox platform",
                    self._platform_port,
                    "--platform-port",
                    self.sandbox.start,
                )
        except BaseException:
            moto.server_close()
            api.server_close()
            raise
        self._moto, self._api = moto, api
        self._spawn(moto.serve_forever, "aws")
        self._spawn(api.serve_forever, "api")
        self.aws_endpoint = f"http://127.0.0.1:{moto.server_address[1]}"
        self.api_url = f"http://127.0.0.1:{api.server_address[1]}"
        os.environ.update(
            {
                "AWS_ENDPOINT_URL": self.aws_endpoint,
                **CREDENTIALS,
                "AWS_DEFAULT_REGION": REGION,
                "AWS_REGION": REGION,
            }
        )
        os.environ.pop("AWS_PROFILE", None)
        os.environ.pop("AWS_SESSION_TOKEN", None)
        if self.sandbox is not None:
            self._send_url = self._send_url or self.sandbox.send_url
            self._media_url = self._media_url or self.sandbox.media_url
        self._build()
        if self.sandbox is not None:
            self.sandbox.callback_url = self.callback_url
        self.events_queue_url = self._events_rule()
        for function in self.functions.values() if self.event_sources else ():
            for source in function.sqs:
                self._spawn(_bind(self._poll, function, source), function.logical_id)
            for stream in function.streams:
                self._spawn(_bind(self._stream, function, stream), function.logical_id)
        return self

    def _serve_moto(self) -> BaseWSGIServer:
        app: Any = DomainDispatcherApplication(create_backend_app)
        if self.peers is not None:
            app = _refusing(app, self.peers)
        port = self._aws_port

        def build() -> BaseWSGIServer:
            # Bound here, in this thread: moto's ThreadedMotoServer binds in its own thread
            # and waits for good when the port is taken.
            sock = socket.create_server((self.host, port), reuse_port=False)
            try:
                return make_server(
                    self.host,
                    port,
                    app,
                    threaded=True,
                    request_handler=MotoRequestHandler,
                    fd=sock.fileno(),
                )
            finally:
                sock.close()

        server = listening("the AWS emulator", port, "--aws-port", build)
        assert isinstance(server, BaseWSGIServer)
        return server

    def _serve_api(self) -> ThreadingHTTPServer:
        def build() -> ThreadingHTTPServer:
            return _ApiServer((self.host, self._api_port), _api_handler(self), self.peers)

        server = listening("the REST API", self._api_port, "--api-port", build)
        assert isinstance(server, ThreadingHTTPServer)
        return server

    def stop(self) -> None:
        """Safe at any moment, and more than once. Quick: the functions' processes are told
        to end first and reaped last, the servers stop before their users are joined."""
        self._stop.set()
        self._lambdas.end()
        if self.sandbox is not None:
            self.sandbox.stop()
        for server in (self._api, self._moto):
            if server is not None:
                server.shutdown()
                server.server_close()
        self._api = self._moto = None
        for thread in self._threads:
            thread.join(timeout=2)
        self._lambdas.reap()

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

    def overrides(self) -> dict[str, str]:
        """The local values of the functions' variables; each applies only to the functions
        that declare it (as `sam local invoke --env-vars`)."""
        return {
            "AWS_ENDPOINT_URL": self.aws_endpoint,
            "ACCOUNT_BACKOFF_SECONDS": str(self.account_backoff),
        }

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
            name = f"{STACK}-{logical}"
            create_table(dynamodb, logical, name)
            ctx.refs[logical] = name
            ctx.attrs[logical] = {"Arn": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}"}
            stream = dynamodb.describe_table(TableName=name)["Table"].get("LatestStreamArn")
            if stream:
                ctx.attrs[logical]["StreamArn"] = stream
        sqs = boto3.client("sqs")
        queues = by_type.get("AWS::SQS::Queue", [])
        # dead-letter queues first: the others name them in their redrive policy
        queues.sort(key=lambda q: "RedrivePolicy" in resources[q]["Properties"])
        for logical in queues:
            props = ctx.resolve(resources[logical]["Properties"])
            name = props.get("QueueName", f"{STACK}-{logical}")
            url = create_queue(sqs, logical, name, props, visibility=self.visibility)
            self.queues[logical] = url
            ctx.refs[logical] = url
            arn = f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}"
            ctx.attrs[logical] = {"Arn": arn, "QueueName": name, "QueueUrl": url}
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
        overrides = self.overrides()
        for logical in by_type.get("AWS::Serverless::Function", []):
            function = self._function(logical, resources[logical], globals_env)
            for name in function.environment.keys() & overrides.keys():
                function.environment[name] = overrides[name]
            self.functions[logical] = function
            self._lambdas.add(function)

    def _bucket(self, client: Any, logical: str, props: dict[str, Any]) -> None:
        assert self.ctx is not None
        props = self.ctx.resolve(props)
        name = props.get("BucketName", f"{STACK}-{logical}".lower())
        create_bucket(client, logical, name, props)
        self.ctx.refs[logical] = name
        self.ctx.attrs[logical] = {"Arn": f"arn:aws:s3:::{name}"}

    def _secret(self) -> None:
        assert self.ctx is not None
        create_secret(
            boto3.client("secretsmanager"),
            self.ctx.parameters["MessaggioSecretId"],
            self.callback_token,
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
            memory=int(props.get("MemorySize", glob.get("MemorySize", 512))),
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
            elif event["Type"] == "DynamoDB":
                failure = spec.get("DestinationConfig", {}).get("OnFailure", {})
                function.streams.append(
                    DynamoDBSource(
                        stream_arn=spec["Stream"],
                        batch_size=int(spec.get("BatchSize", 100)),
                        max_retries=int(spec.get("MaximumRetryAttempts", 10_000)),
                        bisect=bool(spec.get("BisectBatchOnFunctionError", False)),
                        report_failures="ReportBatchItemFailures"
                        in spec.get("FunctionResponseTypes", []),
                        on_failure=failure.get("Destination"),
                    )
                )
            elif event["Type"] == "Api":
                path = spec["Path"]
                pattern = re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", path) + "$")
                function.routes.append(Route(spec["Method"].upper(), path, pattern))
        return function

    def env_vars(self, host: str) -> dict[str, dict[str, str]]:
        """Every function's variables as `sam local --env-vars` takes them, with this
        machine's loopback URLs given as `host` (how a container reaches this machine)."""
        return {
            logical: {name: _rehost(value, host) for name, value in f.environment.items()}
            for logical, f in self.functions.items()
        }

    # -- the event source mapping ----------------------------------------------------------

    def invoke(self, function: Function, event: dict[str, Any]) -> Any:
        with self._lock:
            self.invocations[function.logical_id] = self.invocations.get(function.logical_id, 0) + 1
        return self._lambdas.invoke(function, event)

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
            except InvocationError as exc:  # the whole batch comes back
                self.log(f"{function.logical_id} failed: {exc}")
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

    def _stream(self, function: Function, source: DynamoDBSource) -> None:
        """The table's stream into the function, as Lambda's event source mapping would
        (messaggio_local.streams); a record past its retries is described on the on-failure
        queue. Locally the mapping starts with the table, so LATEST and TRIM_HORIZON agree."""
        sqs = boto3.client("sqs")

        def set_aside(description: dict[str, Any]) -> None:
            info = description["DDBStreamBatchInfo"]
            self.log(f"{function.logical_id}: stream record {info['startSequenceNumber']} given up")
            if source.on_failure:
                name = source.on_failure.rsplit(":", 1)[1]
                url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
                sqs.send_message(QueueUrl=url, MessageBody=json.dumps(description))

        mapping = StreamSource(
            boto3.client("dynamodbstreams"),
            source.stream_arn,
            batch_size=source.batch_size,
            max_retries=source.max_retries,
            bisect=source.bisect,
            report_failures=source.report_failures,
            region=REGION,
            on_failure=set_aside,
        )
        while not self._stop.is_set():
            try:
                done = mapping.pump(lambda event: self.invoke(function, event))
            except Exception as exc:  # the emulator stopping under us
                if self._stop.is_set():
                    return
                self.log(f"stream {function.logical_id}: {exc}")
                done = None
            if done is None or done.invocations == 0:
                self._stop.wait(0.3)

    def _events_rule(self) -> str:
        """Local only (a deployment's rules are its consumers'): a rule on the connector's
        bus delivering every event it publishes to a queue, to read them back."""
        assert self.ctx is not None
        return capture_events(
            boto3.client("sqs"),
            boto3.client("events"),
            f"{STACK}-local-events",
            "local-every-event",
            str(self.ctx.parameters.get("EventBusName", "default")),
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


def _bind[S](fn: Callable[[Function, S], None], f: Function, s: S) -> Callable[[], None]:
    return lambda: fn(f, s)


def _print_line(function: str, line: str) -> None:
    """A function's log line, to this process's stdout (`up` and `demo` send it to a file)."""
    print(line, flush=True)


def _rehost(value: str, host: str) -> str:
    """A loopback URL of this machine, as a container reaches it; anything else unchanged."""
    url = urlsplit(value)
    if url.scheme not in ("http", "https") or url.hostname not in ("127.0.0.1", "localhost"):
        return value
    netloc = f"{host}:{url.port}" if url.port else host
    return urlunsplit(url._replace(netloc=netloc))


def _refusing(app: Any, peers: PeerCheck) -> Any:
    """A WSGI app that answers 403 to anyone `peers` does not allow."""

    def guarded(environ: dict[str, Any], start_response: Any) -> Any:
        if not peers(str(environ.get("REMOTE_ADDR", ""))):
            start_response("403 Forbidden", [("Content-Type", "text/plain")])
            return [b"the local stack answers local peers only\n"]
        return app(environ, start_response)

    return guarded


class _ApiServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        peers: PeerCheck | None,
    ) -> None:
        self.peers = peers
        super().__init__(address, handler)

    def verify_request(self, request: Any, client_address: Any) -> bool:
        return self.peers is None or self.peers(str(client_address[0]))


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

        def __getattr__(self, name: str) -> Any:
            # Every do_<METHOD> is _serve: API Gateway answers every method (403 where no
            # route matches), never 501.
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
            except InvocationError as exc:
                stack.log(f"{function.logical_id} failed: {exc}")
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
