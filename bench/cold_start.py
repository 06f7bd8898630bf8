"""Benchmark 3: cold start, as the first caller feels it.

What it measures: for each function of template.yaml, a fresh interpreter with the function's
own environment (the template's variables, the function's code and the layer on its path, as
Lambda's /var/task and /opt/python) that imports the handler and answers one real-shaped
event (events/: sqs_text.json, callback_delivery_post.json, media_new_image.json,
stream_send_lifecycle.json, each made new for the run so it does the full work and is not a
repeat) against the local stack (its emulated AWS and the sandbox platform): the time from
before the import to the answer, the median of 7 runs. The answer is checked (nothing to
retry, 200 and stored).

Baseline (the floor): in the same run, interleaved, a fresh interpreter with the same
environment doing `import boto3`, making the client and the same one AWS call the function's
work turns on (the sender's and the report's UpdateItem, the media cache's GetItem,
EventBridge's PutEvents) against the same emulated AWS: the least any Python function doing
that call pays. Target: no function above 1.3 times its floor.

Why it is honest: every figure comes from its own new interpreter (nothing cached in memory;
the OS file cache is warm for all alike, as in a Lambda container that starts again); the
clock starts inside the interpreter right before the first import of the product (or of
boto3), so interpreter start-up, the same for both, is left out of both; the rounds
interleave handlers and floors so that machine noise falls on all. Modules run from the
bytecode Python caches beside the sources, as `sam build` ships them compiled
(layers/shared/Makefile, functions/function.mk). The handler's extra AWS
calls (the secret, the opt-out check, the settle) and its call to the platform are in its
figure and not in the floor's, as they are in a real first answer. One thing is left out on
purpose: a new sender container waits one rate-limit window before its first send (the
pacer starts full, README: "Rate limit"); that wait is the rate limit's, not loading's, and
is turned off here (SENDER_PACER_START_FULL=false). Measured on this machine's
architecture (x86_64 here); the layer's arm64 build runs the same Python code.

The libraries' share: in the same run, interleaved, a third fresh interpreter imports every
module the handler's import loads except our own (Powertools, pydantic, the standard
library's, in the order the handler loaded them), then makes the floor's call: what the
function would cost with its libraries and none of our code. Where that alone is over the
target, the target cannot be met without changing the libraries the design names.

Instructions: wall and CPU times on a shared machine swing by 1.5x between runs, ratios with
them. Where valgrind is installed, each of the three interpreters runs once more under
callgrind, whose instruction count is the same whatever else the machine does (less what an
interpreter that only starts executes); that ratio is the one the target is judged by.
BENCH_COLD_INSTRUCTIONS=0 leaves it out (it takes about 3 minutes).

For a function over the target, `python -X importtime` names the heaviest imports our own
modules make, which are the candidates to make lazy.
"""

# PLC0415: imports inside functions, on purpose: the local stack is imported only by the
# process that runs it.
# S603: subprocesses run our own interpreter on our own code: no shell, no outside input.
# ruff: noqa: PLC0415, S603

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common import ROOT, figure, header, load_event, median, note

ROUNDS = int(os.environ.get("BENCH_COLD_ROUNDS", "7"))
# Instruction counts too, where valgrind is installed (BENCH_COLD_INSTRUCTIONS=0: not).
VALGRIND = shutil.which("valgrind")
COUNT_INSTRUCTIONS = os.environ.get("BENCH_COLD_INSTRUCTIONS", "1") != "0" and bool(VALGRIND)
TARGET = 1.3
OURS = ("messaggio_",)
BARE_IMPORTS = {"boto3", "botocore"}
LAYER = ROOT / "layers" / "shared"

# A fresh interpreter answering one event: argv = handler module, function name, event file.
# json, sys and time are loaded before the clock starts, as in the floor.
FIRST_ANSWER = """
import json, sys, time
module, name, path = sys.argv[1:4]
with open(path) as f:
    event = json.load(f)
class Context:
    function_name = name
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    aws_request_id = "cold-start"
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:" + name
    def get_remaining_time_in_millis(self):
        return 30000
started, cpu = time.perf_counter(), time.process_time()
import importlib
answer = importlib.import_module(module).lambda_handler(event, Context())
elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
sys.stderr.write("\\nFIRST-ANSWER " + json.dumps([elapsed, cpu, answer], default=str) + "\\n")
"""

# What every interpreter above does before its clock starts: subtracted from the counts.
STARTUP = "import json, sys, time"

# The floor: argv = service, operation, parameters (JSON).
FLOOR = """
import json, sys, time
service, operation, params = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
started, cpu = time.perf_counter(), time.process_time()
import boto3
answer = getattr(boto3.client(service), operation)(**params)
elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
sys.stderr.write("\\nFIRST-ANSWER " + json.dumps([elapsed, cpu, {}], default=str) + "\\n")
"""


# The modules a handler's import loads, in the order it loads them, our own left out.
LOADED = """
import importlib, json, sys
before = set(sys.modules)
importlib.import_module(sys.argv[1])
print(json.dumps([m for m in sys.modules if m not in before and not m.startswith("messaggio_")]))
"""

# Those modules, then the floor's call: argv = a file of module names, service, operation,
# parameters (JSON). A name that is not importable on its own (an alias one package puts in
# sys.modules for another) is skipped: its package loaded it already.
LIBRARIES = """
import json, sys, time
with open(sys.argv[1]) as f:
    modules = json.load(f)
service, operation, params = sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
started, cpu = time.perf_counter(), time.process_time()
import importlib
for name in modules:
    try:
        importlib.import_module(name)
    except ImportError:
        pass
import boto3
answer = getattr(boto3.client(service), operation)(**params)
elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
sys.stderr.write("\\nFIRST-ANSWER " + json.dumps([elapsed, cpu, {}], default=str) + "\\n")
"""


@dataclass(frozen=True)
class Target:
    function: str  # logical id in template.yaml
    event: str  # file in events/
    service: str  # the floor's one call
    operation: str


TARGETS = (
    Target("SenderFunction", "sqs_text.json", "dynamodb", "update_item"),
    Target("CallbacksFunction", "callback_delivery_post.json", "dynamodb", "update_item"),
    Target("MediaFunction", "media_new_image.json", "dynamodb", "get_item"),
    Target("EventsFunction", "stream_send_lifecycle.json", "events", "put_events"),
)


def floor_params(
    target: Target, table: str, bus: str, run: int, who: str = "floor"
) -> dict[str, Any]:
    """The floor's call, shaped as the function's own (a new key each run and caller)."""
    key = {"pk": {"S": f"TX#cold-{who}-{target.function}-{run}"}, "sk": {"S": "SEND"}}
    if target.operation == "update_item":
        return {
            "TableName": table,
            "Key": key,
            "UpdateExpression": "SET #s = :s",
            "ConditionExpression": "attribute_not_exists(pk)",
            "ExpressionAttributeNames": {"#s": "state"},
            "ExpressionAttributeValues": {":s": {"S": "sending"}},
        }
    if target.operation == "get_item":
        return {"TableName": table, "Key": key}
    entry = {"Source": "messaggio.connector", "DetailType": "Cold Start", "Detail": "{}"}
    return {"Entries": [{**entry, "EventBusName": bus}]}


def png(run: int) -> bytes:
    """A picture the platform accepts, different each run (images are cached by content)."""
    return b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4 + run.to_bytes(4, "big")


def fresh_event(target: Target, run: int, bucket: str, work: Path) -> Path:
    """The events/ file made new for this run, so its work is done in full, not skipped as
    a repeat: a new p_transaction_id, msg_id or image."""
    event = load_event(target.event)
    if target.function == "SenderFunction":
        from messaggio_local.examples import fresh

        event = fresh(ROOT / "events" / target.event, f"cold-{run}")
    elif target.function == "CallbacksFunction":
        event["body"] = event["body"].replace("550e8400-e29b-41d4", f"550e8400-{run:04d}-41d4")
    elif target.function == "MediaFunction":
        import boto3

        key = f"promo/cold-start-{run}.png"
        boto3.client("s3").put_object(Bucket=bucket, Key=key, Body=png(run))
        notification = json.loads(event["Records"][0]["body"])
        s3 = notification["Records"][0]["s3"]
        s3["object"] = {"key": key, "size": len(png(run)), "sequencer": f"{run:016X}"}
        event["Records"][0]["body"] = json.dumps(notification)
    path = work / f"{target.function}-{run}.json"
    path.write_text(json.dumps(event))
    return path


def answered(target: Target, answer: Any) -> bool:
    if target.function == "CallbacksFunction":
        return bool(answer["statusCode"] == 200 and json.loads(answer["body"])["stored"])
    return bool(answer == {"batchItemFailures": []})


def python(
    argv: list[str], env: dict[str, str], *, under: tuple[str, ...] = (), timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """One fresh interpreter (`under` a tool such as callgrind), its output captured."""
    return subprocess.run(
        [*under, sys.executable, *argv],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )


def first_answer(run: subprocess.CompletedProcess[str]) -> list[Any] | None:
    """The FIRST-ANSWER line's [wall, CPU, answer], None when the child printed none."""
    lines = [x for x in run.stderr.splitlines() if x.startswith("FIRST-ANSWER ")]
    return json.loads(lines[-1].removeprefix("FIRST-ANSWER ")) if lines else None


def loaded_modules(module: str, env: dict[str, str], work: Path) -> Path:
    """A file listing what the handler's import loads besides our own modules."""
    run = python(["-c", LOADED, module], env)
    run.check_returncode()
    path = work / f"{module}.modules.json"
    path.write_text(run.stdout)
    return path


def instructions(code: str, args: list[str], env: dict[str, str]) -> tuple[int, Any]:
    """(instructions executed, the answer) of one fresh interpreter under callgrind, which
    counts the same whatever else the machine does (and runs it about 50x slower)."""
    with tempfile.TemporaryDirectory() as out:
        callgrind = (str(VALGRIND), "--tool=callgrind", f"--callgrind-out-file={out}/callgrind.out")
        run = python(["-c", code, *args], env, under=callgrind, timeout=600)
    found = re.search(r"Collected : (\d+)", run.stderr)
    answered = first_answer(run)
    if run.returncode != 0 or found is None or (code != STARTUP and answered is None):
        raise RuntimeError(f"callgrind {args[:1]}: exit {run.returncode}: {run.stderr[-1500:]}")
    answer = answered[2] if answered is not None else None
    return int(found[1]), answer


def timed(code: str, args: list[str], env: dict[str, str]) -> tuple[float, float, Any]:
    """(wall seconds, CPU seconds, the answer) of one fresh interpreter."""
    run = python(["-c", code, *args], env)
    answered = first_answer(run)
    if run.returncode != 0 or answered is None:
        raise RuntimeError(f"{args[0]}: exit {run.returncode}: {run.stderr[-1500:]}")
    elapsed, cpu, answer = answered
    return float(elapsed), float(cpu), answer


@dataclass
class Node:
    name: str
    cumulative_us: int
    children: list[Node] = field(default_factory=list)


def import_tree(module: str, env: dict[str, str]) -> list[Node]:
    """`python -X importtime -c 'import module'` as a tree (its output is post-order)."""
    run = python(["-X", "importtime", "-c", f"import {module}"], env)
    run.check_returncode()
    err = run.stderr
    pending: dict[int, list[Node]] = {}
    for line in err.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative, name = line[len("import time:") :].split("|")
        depth = (len(name) - len(name.lstrip(" "))) // 2
        node = Node(name.strip(), int(cumulative), pending.pop(depth + 1, []))
        pending.setdefault(depth, []).append(node)
    return pending.get(0, [])


def heaviest_imports(
    module: str, env: dict[str, str], top: int = 8
) -> list[tuple[str, float, str]]:
    """Third-party (and stdlib) imports made directly by our own modules: (name, ms, by)."""
    found: list[tuple[str, float, str]] = []

    def walk(node: Node) -> None:
        for child in node.children:
            if child.name.startswith(OURS):
                walk(child)
            else:
                found.append((child.name, child.cumulative_us / 1000, node.name))

    for root in import_tree(module, env):
        if root.name == module:
            walk(root)
    return sorted(found, key=lambda f: -f[1])[:top]


def main() -> None:
    from messaggio_local.stack import CREDENTIALS, LocalStack
    from messaggio_sandbox import Scenario

    header(
        3,
        "Cold start",
        f"a fresh interpreter's import + first answer, median of {ROUNDS}, "
        "interleaved with the floor (import boto3 + the same one AWS call)",
    )
    # Without its event source mappings: nothing else runs while a first answer is timed
    # (the sandbox sends no reports either).
    quiet = LocalStack(log=lambda _: None, function_log=lambda *_: None, event_sources=False)
    with quiet as stack, tempfile.TemporaryDirectory() as tmp:
        assert stack.sandbox is not None
        stack.sandbox.scenario = Scenario.none()
        bucket = stack.output("MediaBucket")
        bus = str(stack.ctx.parameters.get("EventBusName", "default")) if stack.ctx else "default"
        envs: dict[str, dict[str, str]] = {}
        for target in TARGETS:
            function = stack.functions[target.function]
            env = function.process_environment(CREDENTIALS)
            env["PYTHONPATH"] = os.pathsep.join((str(function.code_uri), str(LAYER)))
            env["SENDER_PACER_START_FULL"] = "false"
            envs[target.function] = env
        table = envs["SenderFunction"]["MESSAGES_TABLE"]
        libraries = {
            t.function: loaded_modules(
                stack.functions[t.function].handler.rpartition(".")[0], envs[t.function], Path(tmp)
            )
            for t in TARGETS
        }
        runs: dict[str, list[float]] = {}
        cpus: dict[str, list[float]] = {}

        def children(target: Target, run: int) -> list[tuple[str, str, list[str]]]:
            """This round's three interpreters for the target: (kind, code, argv)."""
            module = stack.functions[target.function].handler.rpartition(".")[0]
            event = fresh_event(target, run, bucket, Path(tmp))

            def call(who: str) -> str:
                return json.dumps(floor_params(target, table, bus, run, who))

            return [
                (target.function, FIRST_ANSWER, [module, target.function, str(event)]),
                (
                    f"floor {target.function}",
                    FLOOR,
                    [target.service, target.operation, call("floor")],
                ),
                (
                    f"libraries {target.function}",
                    LIBRARIES,
                    [
                        str(libraries[target.function]),
                        target.service,
                        target.operation,
                        call("lib"),
                    ],
                ),
            ]

        for run in range(ROUNDS):
            for target in TARGETS:
                for kind, code, args in children(target, run):
                    elapsed, cpu, answer = timed(code, args, envs[target.function])
                    if kind == target.function and not answered(target, answer):
                        raise RuntimeError(f"{target.function} answered {answer}")
                    runs.setdefault(kind, []).append(elapsed)
                    cpus.setdefault(kind, []).append(cpu)
        counts: dict[str, int] = {}
        if COUNT_INSTRUCTIONS:
            startup = instructions(STARTUP, [], envs["SenderFunction"])[0]
            for target in TARGETS:
                for kind, code, args in children(target, ROUNDS):
                    count, answer = instructions(code, args, envs[target.function])
                    if kind == target.function and not answered(target, answer):
                        raise RuntimeError(f"{target.function} answered {answer}")
                    counts[kind] = count - startup
    over: list[Target] = []
    for target in TARGETS:
        name = target.function
        ours, floor = median(runs[name]), median(runs[f"floor {name}"])
        ours_cpu, floor_cpu = median(cpus[name]), median(cpus[f"floor {name}"])
        alone, alone_cpu = median(runs[f"libraries {name}"]), median(cpus[f"libraries {name}"])
        figure(
            f"{name}: {target.event}",
            f"{ours * 1000:.0f} ms",
            f"floor {floor * 1000:.0f} ms ({target.service} {target.operation})",
            f"{ours / floor:.2f}x",
            f"<= {TARGET}x",
        )
        figure(
            "  its CPU time",
            f"{ours_cpu * 1000:.0f} ms",
            f"floor {floor_cpu * 1000:.0f} ms",
            f"{ours_cpu / floor_cpu:.2f}x",
        )
        figure(
            "  its libraries alone + the floor's call",
            f"{alone * 1000:.0f} ms",
            f"floor {floor * 1000:.0f} ms",
            f"{alone / floor:.2f}x (CPU {alone_cpu / floor_cpu:.2f}x)",
        )
        ratio = ours / floor
        if counts:
            floor_count = counts[f"floor {name}"]
            ratio = counts[name] / floor_count
            figure(
                "  instructions (callgrind: the same on a busy machine)",
                f"{counts[name] / 1e9:.2f} G",
                f"floor {floor_count / 1e9:.2f} G",
                f"{ratio:.2f}x (libraries alone {counts[f'libraries {name}'] / floor_count:.2f}x)",
                f"<= {TARGET}x",
            )
        if ratio > TARGET:
            over.append(target)
    spread = ", ".join(f"{k} {min(v) * 1000:.0f}-{max(v) * 1000:.0f}" for k, v in runs.items())
    note(f"range over the {ROUNDS} runs (ms): {spread}")
    for target in over:
        module = stack.functions[target.function].handler.rpartition(".")[0]
        note(f"{module}: heaviest imports made by our modules (-X importtime, cumulative):")
        for name, cost, by in heaviest_imports(module, envs[target.function]):
            also = ", also in the floor" if name in BARE_IMPORTS else ""
            note(f"  {cost:7.1f} ms  {name}  (imported by {by}{also})")
    if over:
        note(
            "cumulative: a module shared by several imports is charged to the first one, "
            "and importtime slows imports down, so making one lazy saves less than shown"
        )


if __name__ == "__main__":
    main()
