"""The platform client's line between "not sent" and "outcome unknown" over TLS: a failed
handshake is not sent (retried); a TLS error once the request went out leaves it unknown."""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import threading
from pathlib import Path

import pytest

from messaggio_core import client as client_module
from messaggio_core.client import PlatformClient, Timeouts
from messaggio_core.protocol.answer import Outcome


def certificate(folder: Path, name: str) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, and its key (openssl: the project declares
    no package that makes certificates)."""
    openssl = shutil.which("openssl")
    assert openssl is not None, "these tests need the openssl command"
    cert_file, key_file = folder / f"{name}.pem", folder / f"{name}.key"
    command = [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]
    command += ["-nodes", "-keyout", str(key_file), "-out", str(cert_file), "-days", "1"]
    command += ["-subj", f"/CN={name}", "-addext", "subjectAltName=IP:127.0.0.1"]
    subprocess.run(
        command,
        check=True,
        capture_output=True,
    )
    return cert_file, key_file


def serve_once(cert: tuple[Path, Path], received: list[bytes]) -> str:
    """A TLS server for one request: it reads the request whole, then answers with a broken
    TLS record (written under the TLS layer), as a failing middlebox might."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*cert)
    listener = socket.create_server(("127.0.0.1", 0))

    def run() -> None:
        raw, _ = listener.accept()
        with raw:
            try:
                conn = context.wrap_socket(raw, server_side=True)
            except (ssl.SSLError, OSError):
                return  # the client refused the handshake
            data = b""
            while not data.endswith(b"\r\n\r\na=1"):
                chunk = conn.recv(65536)
                if not chunk:
                    return
                data += chunk
            received.append(data)
            # the plain socket's send, on the TLS socket's connection
            socket.socket.send(conn, b"\x17\x03\x03\x00\x20" + b"\x00" * 32)
            conn.close()
        listener.close()

    threading.Thread(target=run, daemon=True).start()
    return f"https://127.0.0.1:{listener.getsockname()[1]}/send"


def submit(url: str) -> Outcome:
    client = PlatformClient(url, None, Timeouts(connect=2, read=2))
    return client.submit([("a", b"1")], ["12345678"]).outcome


def test_a_tls_error_after_the_request_went_out_leaves_the_outcome_unknown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Retrying it would send the message twice: the platform had the whole request."""
    cert = certificate(tmp_path, "platform")
    monkeypatch.setattr(client_module, "where", lambda: str(cert[0]))
    received: list[bytes] = []
    outcome = submit(serve_once(cert, received))
    assert received, "the request reached the server"
    assert outcome is Outcome.UNKNOWN


def test_a_failed_tls_handshake_is_not_sent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cert = certificate(tmp_path, "platform")
    other = certificate(tmp_path, "other")
    monkeypatch.setattr(client_module, "where", lambda: str(other[0]))
    received: list[bytes] = []
    assert submit(serve_once(cert, received)) is Outcome.RETRIED
    assert received == []
