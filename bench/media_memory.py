"""Benchmark 6: media memory.

What it measures: the peak memory of the process running the media handler
(`messaggio_media.handler.lambda_handler`) while it uploads a 1 MiB and a 10 MiB image
(the platform's maximum) from the media bucket: S3 HEAD and GET, the spooled download
hashed as it arrives, the cache's claim, the multipart upload streamed to the platform, the
cache's answer. Target: the two peaks differ by well under 2 x 9 MiB (the extra bytes of the
larger image, twice), i.e. memory does not grow with the image.

Baseline: the naive upload, in the same conditions: `get_object()["Body"].read()` and
`requests.post(files=...)`, which holds the image whole, and its multipart body whole again.

Why it is honest: the emulator and the platform hold the bytes too, so neither may live in
the measured process: moto_server runs in its own interpreter and the sandbox in this one,
and each measurement is a fresh child interpreter that does nothing else. In it the handler
first processes a small image (imports, boto3 clients, HTTP pool, the secret: a warm
container); then the kernel's high-water mark of resident memory is reset to the current
size (Linux /proc/self/clear_refs) and the large image goes through: the mark after it
(VmHWM) is the peak, and its excess over the resident size before is the growth.
(`ru_maxrss` is not used: Linux carries a parent's peak into a forked child across exec.)
A second image of the same size then goes through under `tracemalloc`, whose peak counts
the Python allocations of that call alone (not the interpreter, not fragmentation). The
handler spools a download past 256 KiB to a temporary file, as designed: in Lambda that is
/tmp, ephemeral storage, not the function's memory; its page cache is not resident memory
of the process here either. Every upload is checked to have been accepted by the sandbox
and (for the handler) cached with its image_id.
"""

# PLC0415: imports inside functions, on purpose: a handler is imported only once its
# environment is set, inside the emulator.
# S603: subprocesses run our own interpreter on our own code: no shell, no outside input.
# ruff: noqa: PLC0415, S603

from __future__ import annotations

import gc
import hashlib
import json
import os
import subprocess
import sys
import time
import tracemalloc
from typing import Any

from bench.common import (
    MEDIA_BUCKET,
    TABLE,
    MotoServer,
    child_environment,
    create_resources,
    figure,
    header,
    load_event,
    no_stdout,
    note,
    silence,
    use_environment,
)
from messaggio_local.resources import LOGIN, SECRET_KEY
from messaggio_local.template import function_context

MIB = 1024 * 1024
SIZES = (1 * MIB, 10 * MIB)
TARGET_MIB = 2 * 9


def image(size: int, seed: int) -> bytes:
    """A PNG by its magic bytes (what the platform checks), unique per seed."""
    head = b"\x89PNG\r\n\x1a\n" + seed.to_bytes(8, "big")
    block = bytes((seed * 7 + i) % 251 for i in range(64 * 1024))
    body = (block * (size // len(block) + 1))[: size - len(head)]
    return head + body


def keys(size: int) -> tuple[str, str, str]:
    """(warm-up, measured by RSS, measured by tracemalloc) object keys for one size."""
    return (f"bench/{size}/warm.png", f"bench/{size}/rss.png", f"bench/{size}/traced.png")


def notification(key: str) -> dict[str, Any]:
    """events/media_new_image.json naming another object."""
    event = load_event("media_new_image.json")
    record = event["Records"][0]
    body = json.loads(record["body"])
    body["Records"][0]["s3"]["object"]["key"] = key
    body["Records"][0]["s3"]["bucket"]["name"] = MEDIA_BUCKET
    record["body"] = json.dumps(body)
    record["messageId"] = f"bench-{key}"
    return event


def memory() -> tuple[int, int]:
    """(resident now, resident peak) of this process in bytes, from /proc/self/status.

    Not `ru_maxrss`: Linux carries a forked parent's peak into the child's across exec, so
    a child of a large process would report its parent's peak."""
    fields: dict[str, int] = {}
    with open("/proc/self/status") as status:
        for line in status:
            name, _, value = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                fields[name] = int(value.split()[0]) * 1024
    return fields["VmRSS"], fields["VmHWM"]


def reset_peak() -> bool:
    """Sets the peak to the current resident size (Linux: write 5 to clear_refs)."""
    try:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")
    except OSError:
        return False
    return True


def worker(mode: str, size: int) -> None:
    """One fresh interpreter: warm up on a small image, then measure one large one by RSS and
    another by tracemalloc. Prints one JSON line."""
    warm, measured, traced = keys(size)
    if mode == "handler":
        from messaggio_media import handler

        silence(handler.logger)

        def upload(key: str) -> None:
            with no_stdout():
                context = function_context("MediaFunction")
                answer = handler.lambda_handler(notification(key), context)
            if answer["batchItemFailures"]:
                raise RuntimeError(f"{key}: {answer}")

    else:
        import boto3
        import requests

        from messaggio_core.protocol.signature import media_signature

        s3 = boto3.client("s3")
        url = os.environ["MESSAGGIO_MEDIA_URL"]

        def upload(key: str) -> None:
            data = s3.get_object(Bucket=MEDIA_BUCKET, Key=key)["Body"].read()
            sign = media_signature(
                LOGIN, hashlib.md5(data, usedforsecurity=False).hexdigest(), SECRET_KEY
            )
            answer = requests.post(
                url,
                data={"login": LOGIN, "sign": sign},
                files={"image": (key.rsplit("/", 1)[-1], data, "image/png")},
                timeout=(3.05, 30),
            ).json()
            if answer.get("status") != 0:
                raise RuntimeError(f"{key}: {answer}")

    upload(warm)
    gc.collect()
    reset = reset_peak()
    before, _ = memory()
    upload(measured)
    _, after = memory()
    gc.collect()
    tracemalloc.start()
    upload(traced)
    traced_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    result = {"before": before, "peak": after, "traced": traced_peak, "reset": reset}
    print(json.dumps(result), flush=True)


def main() -> None:
    import boto3

    from messaggio_core.dal.media import MediaStore
    from messaggio_sandbox import SandboxPlatform

    header(
        6,
        "Media memory",
        "peak memory of uploading a 1 MiB and a 10 MiB image, fresh process per size, "
        "moto_server and the sandbox in other processes",
    )
    results: dict[tuple[str, int], dict[str, Any]] = {}
    with (
        MotoServer() as moto,
        SandboxPlatform(accounts={LOGIN: SECRET_KEY}) as sandbox,
    ):
        use_environment(AWS_ENDPOINT_URL=moto.endpoint)
        create_resources(bucket=True)
        s3 = boto3.client("s3")
        store = MediaStore(TABLE, 90)
        for size in SIZES:
            for seed, key in enumerate(keys(size)):
                s3.put_object(
                    Bucket=MEDIA_BUCKET,
                    Key=key,
                    Body=image(4096 if seed == 0 else size, size + seed),
                )
        env = child_environment(
            AWS_ENDPOINT_URL=moto.endpoint,
            MESSAGGIO_MEDIA_URL=sandbox.media_url,
            PLATFORM_CONNECT_TIMEOUT="3.05",
            PLATFORM_READ_TIMEOUT="10",
        )
        for mode in ("handler", "naive"):
            for size in SIZES:
                sandbox.reset()
                started = time.monotonic()
                out = subprocess.run(
                    [sys.executable, "-m", "bench.media_memory", "--worker", mode, str(size)],
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=120,
                    check=False,
                )
                if out.returncode != 0:
                    raise RuntimeError(f"{mode} {size}: {out.stderr[-2000:]}")
                results[(mode, size)] = json.loads(out.stdout.strip().splitlines()[-1])
                accepted = [u for u in sandbox.uploads() if u.accepted]
                if len(accepted) != 3:
                    raise RuntimeError(f"{mode} {size}: {len(accepted)} uploads accepted, not 3")
                results[(mode, size)]["seconds"] = int((time.monotonic() - started) * 1000)
                if mode == "handler":
                    for key in keys(size):
                        pointer = store.pointer(MEDIA_BUCKET, key)
                        cached = store.image(pointer.md5) if pointer and pointer.md5 else None
                        if cached is None or cached.state != "ready" or not cached.image_id:
                            raise RuntimeError(f"{key}: no image_id cached")

    def mib(n: float) -> str:
        return f"{round(n / MIB, 1) + 0.0:.1f} MiB"

    for size in SIZES:
        ours, naive = results[("handler", size)], results[("naive", size)]
        figure(
            f"{size // MIB} MiB image: peak RSS (growth over warm)",
            f"{mib(ours['peak'])} (+{mib(ours['peak'] - ours['before'])})",
            f"naive {mib(naive['peak'])} (+{mib(naive['peak'] - naive['before'])})",
        )
        figure(
            f"{size // MIB} MiB image: tracemalloc peak of the call",
            mib(ours["traced"]),
            f"naive {mib(naive['traced'])}",
        )
    small, large = SIZES
    diff = results[("handler", large)]["peak"] - results[("handler", small)]["peak"]
    diff_naive = results[("naive", large)]["peak"] - results[("naive", small)]["peak"]
    figure(
        "difference of peaks, 10 MiB - 1 MiB",
        mib(diff),
        f"naive {mib(diff_naive)}",
        "",
        f"well under {TARGET_MIB} MiB",
    )
    traced = results[("handler", large)]["traced"] - results[("handler", small)]["traced"]
    traced_naive = results[("naive", large)]["traced"] - results[("naive", small)]["traced"]
    figure("difference of tracemalloc peaks", mib(traced), f"naive {mib(traced_naive)}")
    if not all(r["reset"] for r in results.values()):
        note("the peak could not be reset (no /proc/self/clear_refs): peaks include warm-up")
    note(
        "checked: every upload accepted by the sandbox (3 per process), each handler upload cached"
    )


if __name__ == "__main__":
    if "--worker" in sys.argv:
        worker(sys.argv[2], int(sys.argv[3]))
    else:
        main()
