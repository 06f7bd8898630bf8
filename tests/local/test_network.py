"""Whom `up --containers` answers, and how a container is told to reach this machine."""

from __future__ import annotations

import errno
import socket
from pathlib import Path

import pytest

from messaggio_local import network
from messaggio_local.network import PortTaken, bridge_networks, listening, local_peers
from messaggio_local.stack import _rehost

ROUTES = """Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0
docker0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0
br-1a2b3c4d5e6f\t000012AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0
eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
"""


def test_container_bridges_are_read_from_the_routing_table(tmp_path: Path) -> None:
    routes = tmp_path / "route"
    routes.write_text(ROUTES)
    assert [str(n) for n in bridge_networks(routes)] == ["172.17.0.0/16", "172.18.0.0/16"]
    assert bridge_networks(tmp_path / "absent") == []  # not Linux: loopback only


def test_only_loopback_bridges_and_named_ranges_are_answered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    routes = tmp_path / "route"
    routes.write_text(ROUTES)
    monkeypatch.setattr(network, "ROUTES", routes)
    allowed = local_peers(["10.9.0.0/24"])
    for peer in ("127.0.0.1", "127.3.4.5", "::1", "::ffff:127.0.0.1", "172.17.0.2", "172.18.5.6"):
        assert allowed(peer), peer
    assert allowed("10.9.0.7")
    # the LAN this host is on, and anyone else, are refused
    for peer in ("192.0.2.50", "203.0.113.10", "10.9.1.1", "172.19.0.2", "not-an-ip", ""):
        assert not allowed(peer), peer


def test_a_taken_port_is_said_in_one_line() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        def bind() -> None:
            with socket.socket() as again:
                again.bind(("127.0.0.1", port))

        with pytest.raises(PortTaken) as raised:
            listening("the REST API", port, "--api-port", bind)
    assert str(raised.value) == (
        f"port {port} (the REST API) is in use: stop what uses it, or choose another with "
        "--api-port PORT"
    )

    def other() -> None:
        raise OSError(errno.ENETUNREACH, "unreachable")

    with pytest.raises(OSError, match="unreachable"):
        listening("the REST API", 1, "--api-port", other)


def test_loopback_urls_are_given_as_a_container_reaches_this_machine() -> None:
    assert _rehost("http://127.0.0.1:5000", "172.17.0.1") == "http://172.17.0.1:5000"
    assert _rehost("http://localhost:8401/send", "host.docker.internal") == (
        "http://host.docker.internal:8401/send"
    )
    for value in ("https://api.example/send", "messaggio/connector", "0.0.0.0/0", ""):
        assert _rehost(value, "172.17.0.1") == value


def test_make_samlocal_skips_clearly_without_docker(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from messaggio_local import samlocal

    monkeypatch.setenv("PATH", "/nonexistent")  # no docker to ask
    assert samlocal.main() == 0
    assert "skipped: Docker is not available" in capsys.readouterr().out
