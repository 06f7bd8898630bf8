"""Benchmark 3: cold start.

What it measures: for each handler module (messaggio_sender.handler,
messaggio_callbacks.handler, messaggio_media.handler), the time to import it in a fresh
interpreter, which builds its module-level objects (Powertools Logger and Metrics, the REST
resolver and its routes); the median of 7 runs.

Baseline: in the same run, interleaved with the handlers' runs, a fresh interpreter doing only
`import boto3; boto3.client("dynamodb", region_name="eu-west-1")`, the least any Python
function that touches DynamoDB pays. Target: no handler above 1.3 times that.

Why it is honest: every figure comes from its own new interpreter (nothing cached in
memory; the OS file cache is warm for all alike, as in a Lambda container that starts
again), with the Lambda environment of template.yaml; the clock starts inside the
interpreter right before the import, so interpreter start-up (the same for all) is left
out of both sides; the rounds interleave the four targets so that machine noise falls on
all of them. The handlers make their AWS clients on first use, not at import, so a first
invocation adds about the baseline's client creation on top of the figure measured here.
For a handler over the target, `python -X importtime` names the heaviest imports our own
modules make, which are the candidates to make lazy.
"""

# S603: subprocesses run our own interpreter on our own code: no shell, no outside input.
# ruff: noqa: S603

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field

from bench.common import child_environment, figure, header, median, note

ROUNDS = int(os.environ.get("BENCH_COLD_ROUNDS", "7"))
TARGET = 1.3
BARE = 'import boto3; boto3.client("dynamodb", region_name="eu-west-1")'
HANDLERS = ("messaggio_sender.handler", "messaggio_callbacks.handler", "messaggio_media.handler")
OURS = ("messaggio_",)
BARE_IMPORTS = {"boto3", "botocore"}
TIMER = "import time; t = time.perf_counter(); {stmt}; print(time.perf_counter() - t)"


def timed(stmt: str) -> float:
    out = subprocess.run(
        [sys.executable, "-c", TIMER.format(stmt=stmt)],
        env=child_environment(),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    return float(out.strip().splitlines()[-1])


@dataclass
class Node:
    name: str
    cumulative_us: int
    children: list[Node] = field(default_factory=list)


def import_tree(module: str) -> list[Node]:
    """`python -X importtime -c 'import module'` as a tree (its output is post-order)."""
    err = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        env=child_environment(),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stderr
    pending: dict[int, list[Node]] = {}
    for line in err.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative, name = line[len("import time:") :].split("|")
        depth = (len(name) - len(name.lstrip(" "))) // 2
        node = Node(name.strip(), int(cumulative), pending.pop(depth + 1, []))
        pending.setdefault(depth, []).append(node)
    return pending.get(0, [])


def heaviest_imports(module: str, top: int = 8) -> list[tuple[str, float, str]]:
    """Third-party (and stdlib) imports made directly by our own modules: (name, ms, by)."""
    found: list[tuple[str, float, str]] = []

    def walk(node: Node) -> None:
        for child in node.children:
            if child.name.startswith(OURS):
                walk(child)
            else:
                found.append((child.name, child.cumulative_us / 1000, node.name))

    for root in import_tree(module):
        if root.name == module:
            walk(root)
    return sorted(found, key=lambda f: -f[1])[:top]


def main() -> None:
    header(
        3,
        "Cold start",
        f"import in a fresh interpreter, median of {ROUNDS}, interleaved with the baseline",
    )
    targets = {"bare": BARE} | {m: f"import {m}" for m in HANDLERS}
    runs: dict[str, list[float]] = {name: [] for name in targets}
    for _ in range(ROUNDS):
        for name, stmt in targets.items():
            runs[name].append(timed(stmt))
    bare = median(runs["bare"])
    figure("bare: import boto3 + dynamodb client", f"{bare * 1000:.0f} ms")
    over: list[str] = []
    for module in HANDLERS:
        ours = median(runs[module])
        ratio = ours / bare
        figure(
            f"import {module}",
            f"{ours * 1000:.0f} ms",
            f"bare {bare * 1000:.0f} ms",
            f"{ratio:.2f}x",
            f"<= {TARGET}x",
        )
        if ratio > TARGET:
            over.append(module)
    spread = ", ".join(
        f"{name.split('.')[0]} {min(v) * 1000:.0f}-{max(v) * 1000:.0f}" for name, v in runs.items()
    )
    note(f"range over the {ROUNDS} runs (ms): {spread}")
    for module in over:
        note(f"{module}: heaviest imports made by our modules (-X importtime, cumulative):")
        for name, cost, by in heaviest_imports(module):
            also = ", also in the bare figure" if name in BARE_IMPORTS else ""
            note(f"  {cost:7.1f} ms  {name}  (imported by {by}{also})")
    if over:
        note(
            "cumulative: a module shared by several imports is charged to the first one, "
            "and importtime slows imports down, so making one lazy saves less than shown"
        )


if __name__ == "__main__":
    main()
