"""Faults on demand, each observed by a plain requests client with short timeouts."""

from __future__ import annotations

import time
from collections import Counter

import pytest
import requests

from messaggio_sandbox import Fault, SandboxPlatform


def _post(client, timeout=1.0, **fields):
    return requests.post(
        client.platform.send_url,
        data=client.form(client.fields(dlr="1", **fields)),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        timeout=timeout,
    )


def test_hang_is_a_read_timeout_but_the_send_was_accepted(client):
    client.platform.inject(Fault.hang(3))
    start = time.monotonic()
    with pytest.raises(requests.ReadTimeout):
        _post(client, timeout=(1.0, 0.3))
    assert time.monotonic() - start < 2
    record = client.platform.sends()[-1]
    assert record.accepted and record.code == 0
    assert record.status is None
    assert len(record.msg_ids) == 1
    assert record.fault == "hang(3)"
    assert client.send().code == 0  # only the next request hung


def test_drop_is_a_connection_error_but_the_send_was_accepted(client):
    client.platform.inject(Fault.drop())
    with pytest.raises(requests.ConnectionError):
        _post(client)
    record = client.platform.sends()[-1]
    assert record.accepted and record.status is None and record.answer == b""
    assert client.platform.messages[-1].msg_id == next(iter(record.msg_ids.values()))


def test_drop_without_processing(client):
    client.platform.inject(Fault.refuse_processing_drop())
    with pytest.raises(requests.ConnectionError):
        _post(client)
    record = client.platform.sends()[-1]
    assert not record.accepted and record.status is None
    assert client.platform.messages == []


def test_code_fault(client):
    client.platform.inject(Fault.code(-4, "TEMPORARY ERROR"), times=2)
    for _ in range(2):
        answer = client.send(dlr="1")
        assert (answer.code, answer.tech_message, answer.msg_ids) == (-4, "TEMPORARY ERROR", [])
    assert client.send().code == 0
    assert [r.code for r in client.platform.sends()] == [-4, -4, 0]
    assert [r.accepted for r in client.platform.sends()] == [False, False, True]
    assert Fault.code(-3).tech_message == "REQUEST REJECTED"


@pytest.mark.parametrize("status", [503, 429, 500, 502])
def test_http_fault(client, status):
    client.platform.inject(Fault.http(status))
    response = _post(client)
    assert response.status_code == status
    assert 0 < len(response.content) < 100
    assert client.platform.sends()[-1].status == status
    assert not client.platform.sends()[-1].accepted
    assert client.send().code == 0


def test_latency_fault(client):
    client.platform.inject(Fault.latency(0.3))
    start = time.monotonic()
    assert client.send().code == 0
    assert time.monotonic() - start >= 0.3
    start = time.monotonic()
    assert client.send().code == 0
    assert time.monotonic() - start < 0.3


def test_constructor_latency_applies_to_every_request():
    with SandboxPlatform(latency=0.15) as platform:
        for _ in range(2):
            start = time.monotonic()
            requests.get(platform.url + "/x", timeout=5)
            assert time.monotonic() - start >= 0.15


def test_faults_are_per_kind(client):
    client.platform.inject(Fault.upload_status(3), kind="upload")
    assert client.send().code == 0  # sends are untouched
    answer = client.upload(client.PNG).json()
    assert answer == {"status": 3, "error": "file size exceeds the maximum (10 MB)"}
    assert client.upload(client.PNG).json()["status"] == 0


def test_upload_hang_still_issues_the_image(client):
    client.platform.inject(Fault.hang(2), kind="upload")
    sign = client.upload_sign(client.LOGIN, client.PNG, client.SECRET)
    with pytest.raises(requests.ReadTimeout):
        requests.post(
            client.platform.media_url,
            data={"login": client.LOGIN, "sign": sign},
            files={"image": ("p.png", client.PNG)},
            timeout=(1, 0.3),
        )
    assert len(client.platform.image_ids) == 1
    assert client.platform.uploads()[-1].accepted


def test_any_kind_and_fifo(client):
    client.platform.inject(Fault.http(502), kind="any")
    client.platform.inject(Fault.code(-4))
    assert requests.get(client.platform.media_url, timeout=5).status_code == 502
    assert client.send().code == -4
    assert client.send().code == 0


def test_random_faults_are_seeded(client):
    def drill(seed):
        client.platform.reset()
        client.platform.random_faults({Fault.code(-4): 0.3, Fault.http(503): 0.2}, seed=seed)
        out = []
        for _ in range(40):
            response = _post(client)
            out.append(response.status_code if response.status_code != 200 else "xml")
        client.platform.random_faults(None)
        return out, [r.code for r in client.platform.sends()]

    (statuses, codes), (again, _) = drill(1), drill(1)
    assert statuses == again
    counts = Counter(codes)
    assert counts[-4] > 3 and counts[0] > 10
    assert statuses.count(503) > 2
    assert client.send().code == 0  # turned off


def test_fault_validation(sandbox):
    with pytest.raises(ValueError):
        sandbox.inject(Fault.drop(), times=0)
    with pytest.raises(ValueError):
        sandbox.inject(Fault.drop(), kind="nothing")
    with pytest.raises(ValueError):
        sandbox.random_faults({Fault.drop(): 0.7, Fault.http(500): 0.7})
    with pytest.raises(ValueError):
        Fault.http(99)


def test_reset_clears_faults(client):
    client.platform.inject(Fault.code(-4), times=5)
    client.platform.reset()
    assert client.send().code == 0
    assert len(client.platform.requests) == 1


def test_hang_does_not_block_other_clients_or_stop(client):
    platform = client.platform
    platform.inject(Fault.hang(30))
    with pytest.raises(requests.ReadTimeout):
        _post(client, timeout=(1, 0.2))
    assert client.send().code == 0
    start = time.monotonic()
    platform.stop()
    assert time.monotonic() - start < 2
