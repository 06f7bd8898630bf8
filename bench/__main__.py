"""`python -m bench`: the benchmarks in order, each in a fresh interpreter (so none
inherits another's imports, caches, emulator state or environment), then the machine.

Benchmarks report figures; they do not fail on time. The exit status is non-zero only when
a benchmark could not run or one of its checks (every send accepted, every report stored,
...) failed.
"""

# S603: subprocesses run our own interpreter on our own code: no shell, no outside input.
# ruff: noqa: S603

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time

from bench.common import PYTHONPATH, ROOT

BENCHMARKS = (
    "bench.sender_throughput",
    "bench.rate_limit",
    "bench.cold_start",
    "bench.dynamodb_requests",
    "bench.callback_overhead",
    "bench.media_memory",
    "bench.events_throughput",
    "bench.cost",
)


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main() -> int:
    print(
        f"machine: {os.cpu_count()} CPUs ({cpu_model()}), Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}",
        flush=True,
    )
    env = dict(os.environ, PYTHONPATH=PYTHONPATH)
    failed: list[str] = []
    started = time.monotonic()
    for module in BENCHMARKS:
        began = time.monotonic()
        code = subprocess.run([sys.executable, "-m", module], cwd=ROOT, env=env, check=False)
        print(f"    ({module}: {time.monotonic() - began:.0f} s)", flush=True)
        if code.returncode != 0:
            failed.append(module)
    print(f"\nall benchmarks: {time.monotonic() - started:.0f} s", flush=True)
    if failed:
        print(f"could not complete: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
