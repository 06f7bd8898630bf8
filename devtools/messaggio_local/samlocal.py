"""`make samlocal`: the README's `sam local` recipe, run end to end and checked.

It starts its own `up --containers` on ports of its own (so a `make up` you keep running is
not disturbed), builds, invokes each function with a shipped event through `sam local invoke`,
serves the API with `sam local start-api`, and checks each effect: the send submitted and
readable through the status route, the report stored, the image's image_id cached, the routes
answering as on a deployed stack. Without Docker it says so and skips (exit 0).

SAM: the `sam` to run (default: on PATH, else .venv-sam/bin/sam). SAM_LOCAL_INVOKE_IMAGE: an image
to run the functions in instead of AWS's public one (passed as --invoke-image, not pulled).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

from messaggio_local.examples import fresh
from messaggio_local.template import ROOT

AWS_PORT, API_PORT, PLATFORM_PORT, START_API_PORT = 5010, 3010, 8411, 3011
# samconfig.toml's `local` environment: Architecture=x86_64 (Docker's Lambda image here),
# built into .aws-sam/build-x86_64 and invoked from there (README: "... with `sam local`").
LOCAL = ("--config-env", "local")
TOKEN = "cb-token-0123456789abcdef"  # noqa: S105 (the local token the events carry)


class Recipe:
    def __init__(self, work: Path) -> None:
        self.work = work
        self.failures: list[str] = []
        self.state: dict[str, str] = {}
        self.env = dict(os.environ)
        self.env["SAM_CLI_TELEMETRY"] = "0"
        self.sam = os.environ.get("SAM") or shutil.which("sam") or str(ROOT / ".venv-sam/bin/sam")
        # The README's PATH: the SAM CLI's folder first (.venv-sam/bin: the python3.12, with
        # pip, that sam build's recipes run), then this one's python3.12 for a `sam` without.
        self.env["PATH"] = os.pathsep.join(
            (
                str(Path(self.sam).absolute().parent),
                str(Path(sys.executable).parent),
                self.env.get("PATH", ""),
            )
        )
        image = os.environ.get("SAM_LOCAL_INVOKE_IMAGE")
        self.image = ["--invoke-image", image, "--skip-pull-image"] if image else []

    def check(self, what: str, ok: bool, detail: Any = "") -> None:
        print(f"  {'ok  ' if ok else 'FAIL'} {what}" + ("" if ok else f": {detail}"), flush=True)
        if not ok:
            self.failures.append(what)

    def sam_cmd(self, *args: str, **kw: Any) -> subprocess.CompletedProcess[str]:
        command = [self.sam, *args]
        return subprocess.run(  # noqa: S603 (the SAM CLI, our arguments)
            command, check=False, cwd=ROOT, env=self.env, capture_output=True, text=True, **kw
        )

    def invoke(self, function: str, event: Path) -> Any:
        run = self.sam_cmd(
            "local",
            "invoke",
            *LOCAL,
            function,
            "-e",
            str(event),
            "--env-vars",
            str(self.work / "env.local.json"),
            *self.image,
            timeout=300,
        )
        lines = [x for x in run.stdout.strip().splitlines() if x.startswith("{")]
        try:
            return json.loads(lines[-1])
        except (IndexError, ValueError):
            return {"invoke failed": run.returncode, "stderr": run.stderr[-800:]}

    def status(self, ptid: str) -> dict[str, Any] | None:
        answer = requests.get(f"{self.state['api_url']}/messages/{ptid}", timeout=5)
        return dict(answer.json()) if answer.status_code == 200 else None


def docker_ready() -> bool:
    try:
        docker = subprocess.run(["docker", "info"], check=False, capture_output=True, timeout=30)  # noqa: S607
        return docker.returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def wait(check: Callable[[], Any], timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.5)


def main() -> int:
    if not docker_ready():
        print(
            "make samlocal: skipped: Docker is not available (`docker info` fails). sam local "
            "needs Docker able to run the Lambda python3.12 image."
        )
        return 0
    with tempfile.TemporaryDirectory(prefix="samlocal-") as tmp:
        recipe = Recipe(Path(tmp))
        up = start_stack(recipe)
        try:
            run(recipe)
        finally:
            up.send_signal(signal.SIGTERM)
            up.wait(timeout=30)
    if recipe.failures:
        print(f"make samlocal: {len(recipe.failures)} check(s) failed")
        return 1
    print("make samlocal: every check passed")
    return 0


def start_stack(recipe: Recipe) -> subprocess.Popen[str]:
    state = recipe.work / "state.json"
    env = dict(recipe.env)
    env["PYTHONPATH"] = os.pathsep.join(str(ROOT / p) for p in ("layers/shared", "devtools"))
    up = subprocess.Popen(  # noqa: S603
        [
            *(sys.executable, "-m", "messaggio_local", "up", "--containers"),
            *("--aws-port", str(AWS_PORT), "--api-port", str(API_PORT)),
            *("--platform-port", str(PLATFORM_PORT), "--state", str(state)),
            *("--env-file", str(recipe.work / "env.local.json")),
        ],
        cwd=recipe.work,
        env=env,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    if not wait(state.exists, 60):
        up.kill()
        raise SystemExit("make samlocal: the local stack did not come up")
    recipe.state = json.loads(state.read_text())
    recipe.env.update(
        {
            "AWS_ENDPOINT_URL": recipe.state["aws_endpoint_url"],
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "AWS_DEFAULT_REGION": "eu-west-1",
        }
    )
    recipe.env.pop("AWS_PROFILE", None)
    recipe.env.pop("AWS_SESSION_TOKEN", None)
    return up


def run(recipe: Recipe) -> None:
    print("sam build", flush=True)
    build = recipe.sam_cmd("build", *LOCAL, timeout=600)
    recipe.check("sam build", build.returncode == 0, build.stderr[-800:])
    suffix = time.strftime("%H%M%S")
    send = recipe.work / "sqs_text.json"
    send.write_text(json.dumps(fresh(ROOT / "events" / "sqs_text.json", suffix)))
    ptid = f"order-1042-{suffix}"

    print("sam local invoke", flush=True)
    answer = recipe.invoke("SenderFunction", send)
    recipe.check(
        "sender: the batch answered, no record to retry",
        answer == {"batchItemFailures": []},
        answer,
    )
    view = wait(lambda: recipe.status(ptid))
    recipe.check(
        f"sender: {ptid} submitted to the sandbox, readable through the status route",
        bool(view)
        and view["state"] == "submitted"
        and all(r["msg_id"] for r in view["recipients"]),
        view,
    )
    answer = recipe.invoke("CallbacksFunction", ROOT / "events" / "callback_delivery_get.json")
    recipe.check(
        "callbacks: the delivery report answered 200 and stored",
        answer.get("statusCode") == 200
        and json.loads(answer.get("body") or "{}").get("stored") is True,
        answer,
    )
    answer = recipe.invoke("MediaFunction", ROOT / "events" / "media_new_image.json")
    recipe.check(
        "media: the SQS-wrapped notification processed", answer == {"batchItemFailures": []}, answer
    )
    answer = recipe.invoke("MediaFunction", ROOT / "events" / "media_s3_put.json")
    recipe.check(
        "media: the plain S3 notification processed", answer == {"batchItemFailures": []}, answer
    )
    recipe.check("media: the image's image_id cached", bool(cached_image_id(recipe)), "none")
    picture = recipe.work / "sqs_picture.json"
    picture.write_text(json.dumps(fresh(ROOT / "events" / "sqs_picture.json", suffix)))
    recipe.invoke("SenderFunction", picture)
    view = wait(lambda: recipe.status(f"promo-7-picture-{suffix}"))
    recipe.check(
        "sender: the picture event submitted", bool(view) and view["state"] == "submitted", view
    )

    print(f"sam local start-api --port {START_API_PORT}", flush=True)
    api = subprocess.Popen(  # noqa: S603
        [
            *(recipe.sam, "local", "start-api", *LOCAL, "--port", str(START_API_PORT)),
            *("--env-vars", str(recipe.work / "env.local.json"), *recipe.image),
        ],
        cwd=ROOT,
        env=recipe.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        if not wait(lambda: _listening(START_API_PORT), 60):
            recipe.check("start-api listening", False, f"nothing on port {START_API_PORT}")
            return
        base = f"http://127.0.0.1:{START_API_PORT}"
        query = (
            "msg_id=550e8400-e29b-41d4-a716-446655440000&p_transaction_id=order-1042"
            "&type=delivery&status=delivered"
        )
        for what, url, method, expected in (
            ("a callback by GET: 200", f"{base}/callbacks/{TOKEN}?{query}", "GET", 200),
            ("a wrong token: 403", f"{base}/callbacks/wrong-token-0000000000?{query}", "GET", 403),
            (
                "the status of the send: 200 (no IAM check locally)",
                f"{base}/messages/{ptid}",
                "GET",
                200,
            ),
            ("an unknown id: 404", f"{base}/messages/no-such-send", "GET", 404),
            ("an unknown route: 403", f"{base}/v1/messages/{ptid}", "GET", 403),
        ):
            got = requests.request(method, url, timeout=120).status_code
            recipe.check(f"start-api: {what}", got == expected, got)
    finally:
        os.killpg(api.pid, signal.SIGTERM)
        try:
            api.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(api.pid, signal.SIGKILL)
            api.wait(timeout=10)


def cached_image_id(recipe: Recipe) -> str | None:
    """The image_id the media store holds for the event's object (as the sender reads it)."""
    os.environ.update(
        {
            k: recipe.env[k]
            for k in (
                "AWS_ENDPOINT_URL",
                "AWS_ACCESS_KEY_ID",
                "AWS_SECRET_ACCESS_KEY",
                "AWS_DEFAULT_REGION",
            )
        }
    )
    from messaggio_core.dal.media import MediaStore  # noqa: PLC0415 (after the endpoint is set)

    store = MediaStore("messaggio-connector-MessagesTable", 90)
    pointer = store.pointer(recipe.state["media_bucket"], "promo/winter sale.png")
    if pointer is None or pointer.md5 is None:
        return None
    image = store.image(pointer.md5)
    return image.image_id if image else None


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


if __name__ == "__main__":
    raise SystemExit(main())
