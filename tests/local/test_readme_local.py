"""The README's local commands, run as written against `make up` (the AWS CLI v1 from PyPI,
bash, curl-free HTTP), and the shipped events against the local stack."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import requests

from messaggio_local.examples import IMAGE_ID, fresh
from tests.conftest import EVENTS, ROOT
from tests.fixtures.local import client, tools_env, up, wait

pytestmark = pytest.mark.slow

README = (ROOT / "README.md").read_text()
# The AWS CLI v1 `pip install awscli` gives, in its own environment (`make unit` makes it).
AWS_CLI = ROOT / ".venv-awscli" / "bin"


def shell_lines() -> list[str]:
    """Every command of the README's sh blocks, continuation lines joined."""
    commands: list[str] = []
    for block in re.findall(r"```sh\n(.*?)```", README, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            command = line.strip()
            if command and not command.startswith("#"):
                commands.append(command)
    return commands


def local_lines() -> list[str]:
    """The README's commands meant for `make up`: the AWS CLI lines that use its variables,
    and the messaggio_local ones."""
    return [
        c
        for c in shell_lines()
        if c.startswith("aws ${AWS_ENDPOINT_URL:+")
        or "-m messaggio_local send" in c
        or "$API_URL" in c
    ]


def exported(output: str) -> dict[str, str]:
    (line,) = [x for x in output.splitlines() if x.strip().startswith("export ")]
    return dict(pair.split("=", 1) for pair in shlex.split(line.strip())[1:])


def status(stack: dict[str, str], ptid: str) -> dict[str, Any] | None:
    answer = requests.get(f"{stack['api_url']}/messages/{ptid}", timeout=5)
    return dict(answer.json()) if answer.status_code == 200 else None


def submitted(stack: dict[str, str], ptid: str) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        view = status(stack, ptid)
        return view if view and view["state"] == "submitted" else None

    return dict(wait(done))


def test_the_readme_local_examples_work_with_the_aws_cli_v1(tmp_path: Path) -> None:
    lines = local_lines()
    assert len([c for c in lines if c.startswith("aws ")]) >= 3
    assert (AWS_CLI / "aws").exists(), "no AWS CLI v1: `make .venv-awscli/.installed`"
    state = tmp_path / "stack.json"
    for stack in up(tmp_path, "--state", str(state)):
        env = {
            **tools_env(),
            "MESSAGGIO_LOCAL_STATE": str(state),
            "PATH": os.pathsep.join(
                [str(AWS_CLI), str(Path(sys.executable).parent), os.environ["PATH"]]
            ),
            # what the export line sets (checked against it below)
            "AWS_ENDPOINT_URL": stack["aws_endpoint_url"],
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "AWS_DEFAULT_REGION": "eu-west-1",
            "QUEUE_URL": stack["send_queue_url"],
            "DLQ_URL": stack["dead_letter_queue_url"],
            "MEDIA_BUCKET": stack["media_bucket"],
            "API_URL": stack["api_url"],
        }
        for command in lines:
            run = subprocess.run(
                ["bash", "-c", command],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            assert run.returncode == 0, (command, run.stdout, run.stderr)
        assert client("s3", stack).head_object(
            Bucket=stack["media_bucket"], Key="promo/winter-sale.png"
        )
        for ptid in ("otp-5521", "my-1", "promo-winter-1"):
            submitted(stack, ptid)
        picture = submitted(stack, "my-2")  # send --image with a local file
        assert picture["kind"] == "picture"
    # the export line `make up` prints sets every variable the README's commands use
    variables = exported(stack["output"])
    used = {v for c in local_lines() for v in re.findall(r"\$\{?([A-Z_]+)", c)}
    assert used - {"PWD", "PATH"} <= variables.keys(), used - variables.keys()
    assert variables["QUEUE_URL"] == stack["send_queue_url"]
    assert variables["API_URL"] == stack["api_url"]


def test_every_shipped_sqs_event_works_as_shipped_against_make_up(tmp_path: Path) -> None:
    for stack in up(tmp_path):
        sqs = client("sqs", stack)
        for name in ("sqs_picture.json", "sqs_picture_by_reference.json", "sqs_text.json"):
            for record in json.loads((EVENTS / name).read_text())["Records"]:
                sqs.send_message(QueueUrl=stack["send_queue_url"], MessageBody=record["body"])
        for ptid in ("promo-7-picture", "order-1042"):
            submitted(stack, ptid)
        by_reference = json.loads(
            json.loads((EVENTS / "sqs_picture_by_reference.json").read_text())["Records"][0]["body"]
        )
        submitted(stack, by_reference["p_transaction_id"])
        # the media events' objects are there, as each event means them
        s3 = client("s3", stack)
        for name in ("media_new_image.json", "media_duplicate.json", "media_not_an_image.json"):
            body = json.loads(json.loads((EVENTS / name).read_text())["Records"][0]["body"])
            key = body["Records"][0]["s3"]["object"]["key"].replace("+", " ")
            assert s3.head_object(Bucket=stack["media_bucket"], Key=key)
    assert IMAGE_ID in (EVENTS / "sqs_picture.json").read_text()


def test_a_fresh_event_has_new_ids_and_the_same_bodies() -> None:
    event = fresh(EVENTS / "sqs_mixed_batch.json", "x1")
    original = json.loads((EVENTS / "sqs_mixed_batch.json").read_text())
    for new, old in zip(event["Records"], original["Records"], strict=True):
        assert new["messageId"] == old["messageId"] + "-x1"
        try:
            old_body = json.loads(old["body"])
        except ValueError:
            assert new["body"] == old["body"]
            continue
        if isinstance(old_body, dict) and isinstance(old_body.get("p_transaction_id"), str):
            assert json.loads(new["body"]) == {
                **old_body,
                "p_transaction_id": old_body["p_transaction_id"] + "-x1",
            }


def test_redrive_moves_dead_letters_back(tmp_path: Path) -> None:
    dead = "http://127.0.0.1:9/send"  # nothing listens: every try is "not sent", retried
    state = tmp_path / "stack.json"
    for stack in up(
        tmp_path, "--send-url", dead, "--param", "SendMaxReceiveCount=2", "--state", str(state)
    ):
        sqs = client("sqs", stack)
        body = {
            "sending_method": "sms",
            "from": "MyShop",
            "phone": ["380501234567"],
            "txt": "Hello",
            "p_transaction_id": "redrive-1",
        }
        sqs.send_message(QueueUrl=stack["send_queue_url"], MessageBody=json.dumps(body))

        def dead_letters(sqs: Any = sqs, stack: dict[str, str] = stack) -> int:
            attributes = sqs.get_queue_attributes(
                QueueUrl=stack["dead_letter_queue_url"],
                AttributeNames=["ApproximateNumberOfMessages"],
            )["Attributes"]
            return int(attributes["ApproximateNumberOfMessages"])

        wait(dead_letters)
        run = subprocess.run(
            [sys.executable, "-m", "messaggio_local", "redrive"],
            cwd=tmp_path,
            env={**tools_env(), "MESSAGGIO_LOCAL_STATE": str(state)},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert run.returncode == 0, run.stderr
        assert "moved 1 message(s)" in run.stdout
        assert dead_letters() == 0
        # back on the send queue: tried again (and, the platform still away, dead again)

        def retried(stack: dict[str, str] = stack) -> bool:
            view = status(stack, "redrive-1")
            return bool(view) and view is not None and view["attempts"] > 2

        wait(retried)


def test_the_readme_metric_list_matches_the_code() -> None:
    (section,) = re.findall(r"- Metrics \(namespace `MessaggioConnector`\)(.*?)\n- ", README, re.S)
    listed = set(re.findall(r"`([A-Z][A-Za-z]+)`", section))
    source = "\n".join(
        p.read_text() for p in (ROOT / "functions").rglob("*.py") if "messaggio_" in str(p)
    )
    emitted = set(re.findall(r'add_metric\(name="([A-Za-z]+)"', source))
    emitted |= set(re.findall(r'^\s+[A-Za-z]+\.[A-Z_]+: "([A-Z][A-Za-z]+)",$', source, re.M))
    for pair in re.findall(r'name = "([A-Za-z]+)" if .* else "([A-Za-z]+)"', source):
        emitted |= set(pair)
    assert emitted, "no metric found in the code"
    assert listed == emitted, (listed - emitted, emitted - listed)
