"""`make up` as a user meets it: stopping, taken ports, each function in its own environment,
what the terminal and the log say."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from messaggio_local.lambdas import Function, Functions, InvocationError
from tests.fixtures.local import client, start_up, up, wait

pytestmark = pytest.mark.slow


def _running(tmp: Path, *extra: str) -> tuple[subprocess.Popen[str], Path]:
    state = tmp / "stack.json"
    process = start_up(tmp, state, *extra)
    deadline = time.monotonic() + 60
    while not state.exists():
        assert process.poll() is None, process.communicate()[0]
        assert time.monotonic() < deadline, "the stack did not come up"
        time.sleep(0.2)
    return process, state


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_two_stop_signals_stop_it(tmp_path: Path, signum: int) -> None:
    # make forwards one signal and the process group gets another: both arrive at once
    process, state = _running(tmp_path)
    process.send_signal(signum)
    process.send_signal(signum)
    out, _ = process.communicate(timeout=30)
    assert process.returncode == 0, out
    assert out.rstrip().endswith("stopped")
    assert not state.exists()


def test_a_stop_signal_while_starting_stops_it(tmp_path: Path) -> None:
    process = start_up(tmp_path, tmp_path / "stack.json")
    time.sleep(1.5)  # importing, binding, creating the resources
    process.send_signal(signal.SIGTERM)
    process.send_signal(signal.SIGTERM)
    out, _ = process.communicate(timeout=30)
    # stopped cleanly, or (a signal before Python set its handlers) ended by it
    assert process.returncode in (0, -signal.SIGTERM), out


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        yield int(taken.getsockname()[1])


@pytest.mark.parametrize("option", ["--aws-port", "--api-port", "--platform-port"])
def test_a_taken_port_is_one_line_naming_it_and_the_option(
    tmp_path: Path, taken_port: int, option: str
) -> None:
    process = start_up(tmp_path, tmp_path / "stack.json", option, str(taken_port))
    out, _ = process.communicate(timeout=30)  # today: port 5000 taken hangs for good
    assert process.returncode == 2
    lines = out.strip().splitlines()
    assert len(lines) == 1, out
    assert f"port {taken_port}" in lines[0] and option in lines[0]
    assert "Traceback" not in out


def test_options_pass_through_make_up() -> None:
    makefile = (Path(__file__).parents[2] / "Makefile").read_text()
    (line,) = [x for x in makefile.splitlines() if "messaggio_local up" in x]
    assert line.rstrip().endswith("$(ARGS)")


def test_each_function_sees_only_its_own_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "probe.py").write_text(
        "import os\n\ndef handler(event, context):\n"
        "    return {'env': dict(os.environ), 'name': context.function_name}\n"
    )
    monkeypatch.setenv("THE_STACKS_OWN", "x")
    lines: list[tuple[str, str]] = []
    functions = Functions({"AWS_ACCESS_KEY_ID": "local"}, lambda f, line: lines.append((f, line)))
    mine = Function("Mine", tmp_path, "probe.handler", {"MINE": "1"}, timeout=10)
    other = Function("Other", tmp_path, "probe.handler", {"OTHER": "2"}, timeout=10)
    try:
        functions.add(mine)
        functions.add(other)
        seen = functions.invoke(mine, {})
        assert seen["name"] == "Mine"
        assert seen["env"]["MINE"] == "1"
        assert "OTHER" not in seen["env"] and "THE_STACKS_OWN" not in seen["env"]
        assert seen["env"]["AWS_LAMBDA_FUNCTION_NAME"] == "Mine"
        assert "OTHER" in functions.invoke(other, {})["env"]
        broken = Function("Broken", tmp_path, "probe.missing", {}, timeout=10)
        functions.add(broken, warm=False)
        with pytest.raises(InvocationError, match="process ended"):
            functions.invoke(broken, {})
    finally:
        functions.stop()
    # the broken function's traceback is in the log, attributed to it
    assert any(f == "Broken" and line.startswith("[Broken] ") for f, line in lines)


def test_the_terminal_shows_each_send_and_report_and_the_log_names_each_function(
    tmp_path: Path,
) -> None:
    for stack in up(tmp_path):
        body = {
            "sending_method": "viber",
            "from": "MyShop",
            "phone": ["380501234567"],
            "txt": "Hello there",
            "p_transaction_id": "term-1",
        }
        client("sqs", stack).send_message(
            QueueUrl=stack["send_queue_url"], MessageBody=json.dumps(body)
        )

        def replied(stack: dict[str, str] = stack) -> bool:
            answer = requests.get(f"{stack['api_url']}/messages/term-1", timeout=5)
            return answer.status_code == 200 and bool(answer.json()["recipients"][0]["replies"])

        wait(replied)
        time.sleep(0.5)
    out = stack["output"]
    assert "  send    term-1: submitted" in out
    for status in ("delivered", "seen", "reply"):
        assert f": {status}" in out
    assert "380501234567" not in out and "Hello there" not in out and "Thanks" not in out
    assert "No application metrics" not in out
    log = (tmp_path / "local-stack.log").read_text().splitlines()
    entries = [json.loads(line) for line in log if line.startswith("{")]
    assert entries and all("function_name" in e for e in entries)
    by_message = {e.get("message"): e["function_name"] for e in entries}
    assert by_message["send processed"] == "SenderFunction"
    assert by_message["report stored"] == "CallbacksFunction"
    # each metric record is one function's: the sender's never holds a callbacks metric
    for entry in entries:
        if "_aws" in entry and "Submitted" in entry:
            assert entry["function_name"] == "SenderFunction"
            assert "ReportStored" not in entry
