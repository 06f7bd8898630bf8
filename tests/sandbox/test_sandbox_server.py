"""The server itself: loopback only, lifecycle, records, rate measurements, CLI."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

import messaggio_sandbox
from messaggio_sandbox import SandboxPlatform


@pytest.mark.parametrize(
    "host", ["0.0.0.0", "", "192.168.1.10", "10.0.0.1", "::", "example.com", "::ffff:127.0.0.1"]
)
def test_non_loopback_host_refused(host):
    with pytest.raises(ValueError, match="loopback"):
        SandboxPlatform(host=host)


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "localhost"])
def test_loopback_hosts(host):
    with SandboxPlatform(host=host) as platform:
        assert re.fullmatch(r"http://127\.0\.0\.\d:\d+", platform.url)
        assert platform.send_url == platform.url + "/send"
        assert platform.media_url == platform.url + "/upload/"
        assert requests.get(platform.url + "/", timeout=5).status_code == 404


def test_ipv6_loopback():
    try:
        probe = socket.socket(socket.AF_INET6)
        probe.bind(("::1", 0))
        probe.close()
    except OSError:
        pytest.skip("no IPv6 loopback here")
    with SandboxPlatform(host="::1") as platform:
        assert platform.url.startswith("http://[::1]:")
        assert requests.get(platform.url + "/", timeout=5).status_code == 404


def test_stop_closes_the_port_and_kept_alive_connections(client):
    platform = client.platform
    session = requests.Session()
    query = client.form(client.fields()).decode()
    assert session.get(f"{platform.send_url}?{query}", timeout=5).status_code == 200
    platform.stop()
    with pytest.raises(requests.ConnectionError):
        session.get(f"{platform.send_url}?{query}", timeout=2)
    with pytest.raises(requests.ConnectionError):
        requests.get(platform.send_url, timeout=2)
    assert len(platform.sends()) == 1
    platform.stop()  # idempotent
    with pytest.raises(RuntimeError):
        platform.start()


def test_keep_alive_session_is_served(client):
    session = requests.Session()
    query = client.form(client.fields()).decode()
    for _ in range(5):
        assert b"<code>0</code>" in session.get(f"{client.platform.send_url}?{query}").content
    assert len(client.platform.sends()) == 5


def test_concurrent_clients_all_recorded_in_arrival_order(client):
    def one(i):
        return client.send(phones=[f"38050{i:07d}"], dlr="1").code

    with ThreadPoolExecutor(max_workers=16) as pool:
        codes = list(pool.map(one, range(80)))
    assert codes == [0] * 80
    records = client.platform.sends()
    assert len(records) == 80
    assert [r.received_at for r in records] == sorted(r.received_at for r in records)
    ids = [m.msg_id for m in client.platform.messages]
    assert len(set(ids)) == 80


def test_max_per_second_counts_recipients_in_any_window(client):
    for _ in range(3):
        assert client.send(phones=[client.PHONE]).code == 0
    client.send(phones=["+1"])  # refused sends count too: they arrived
    time.sleep(1.05)
    for _ in range(2):
        client.send(phones=[client.PHONE, client.PHONE2, "380500000000"])
    platform = client.platform
    assert platform.max_per_second() == 6  # not 4: the first second held 1+1+1+1
    assert platform.max_per_second(weight="requests") == 4
    assert platform.max_per_second(kind="upload") == 0
    rate = platform.arrival_rate()
    span = platform.sends()[-1].received_at - platform.sends()[0].received_at
    assert rate == pytest.approx((1 + 1 + 1 + 3 + 3) / span)  # all but the first
    assert 1.05 <= span < 2


def test_max_per_second_sliding_window(client):
    platform = client.platform
    client.send()
    time.sleep(0.6)
    client.send(phones=[client.PHONE, client.PHONE2])
    time.sleep(0.6)
    client.send(phones=[client.PHONE, client.PHONE2])
    # No window of 1 s holds all three; a sliding one (not a fixed second) holds 1+2 or 2+2.
    assert platform.max_per_second() == 4


def test_arrival_rate_needs_two_arrivals(sandbox):
    assert sandbox.arrival_rate() == 0.0
    assert sandbox.max_per_second() == 0


def test_chunked_body(client):
    body = client.form(client.fields())
    response = requests.post(
        client.platform.send_url,
        data=iter([body[:10], body[10:]]),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        timeout=5,
    )
    assert client.parse_answer(response).code == 0


def test_plugin_fixture(sandbox):
    assert sandbox.accounts == {"acme": "s3cr3t-Key"}
    assert requests.get(sandbox.url + "/", timeout=5).status_code == 404


def _cli(*args: str) -> subprocess.Popen[str]:
    devtools = str(Path(messaggio_sandbox.__file__).resolve().parent.parent)
    env = dict(os.environ, PYTHONPATH=devtools, PYTHONUNBUFFERED="1")
    return subprocess.Popen(
        [sys.executable, "-m", "messaggio_sandbox", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def test_cli_serves_and_stops_on_sigterm(client):
    process = _cli("--port", "0", "--login", "shop", "--secret-key", "k3y", "--scenario", "seen")
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        second = process.stdout.readline()
        match = re.search(r"send URL (\S+)\s+media URL (\S+)", first)
        assert match, first
        assert "shop" in second and "k3y" in second
        send_url, media_url = match.groups()
        assert media_url.endswith("/upload/")
        fields = client.fields(user="shop", secret="k3y", dlr="1")
        answer = client.parse_answer(
            requests.post(
                send_url,
                data=client.form(fields),
                headers={"Content-Type": "application/x-www-form-urlencoded"},
                timeout=5,
            )
        )
        assert answer.code == 0 and len(answer.msg_ids) == 1
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
        with pytest.raises(requests.ConnectionError):
            requests.post(send_url, timeout=2)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_cli_refuses_a_public_host():
    process = _cli("--host", "0.0.0.0", "--port", "0")
    _, err = process.communicate(timeout=10)
    assert process.returncode == 2
    assert "loopback" in err
