"""Helpers for the sandbox's own tests.

Requests here are built and signed by hand (hashlib, percent-encoding of raw bytes), never
with the sandbox's or the connector's code, so a test fails if either side gets section C
wrong.
"""

from __future__ import annotations

import hashlib
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, quote_from_bytes

import pytest
import requests

from messaggio_sandbox import SandboxPlatform
from messaggio_sandbox.pytest_plugin import sandbox  # noqa: F401 (the fixture, for these tests)

LOGIN = "acme"
SECRET = "s3cr3t-Key"
PHONE = "380501234567"
PHONE2 = "380671112233"
TIMEOUT = 5.0

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(range(256)) * 2
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\r\n--x\r\n" + bytes(range(255, -1, -1))
GIF = b"GIF89a\x01\x00\x01\x00\x80\x00\x00" + b"\xff\xff\xff\x00\x00\x00;"


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def send_sign(user: str, sender: str, phones: Sequence[str], txt: bytes | None, secret: str) -> str:
    """Section C, written out independently of any project code."""
    raw = user.encode() + sender.encode() + "".join(phones).encode() + (txt or b"")
    return md5(raw + secret.encode())


def upload_sign(login: str, data: bytes, secret: str) -> str:
    """Section F."""
    return md5(login.encode() + md5(data).encode() + secret.encode())


def form(fields: Sequence[tuple[str, str | bytes]]) -> bytes:
    """Form-encode, percent-encoding bytes values exactly as they are (no re-encoding)."""
    out = []
    for name, value in fields:
        raw = value if isinstance(value, bytes) else value.encode("utf-8")
        out.append(f"{quote_from_bytes(name.encode(), safe='')}={quote_from_bytes(raw, safe='')}")
    return "&".join(out).encode("ascii")


@dataclass
class Answer:
    """A parsed section D answer."""

    response: requests.Response
    code: int
    tech_message: str
    msg_ids: list[tuple[str, str]]


def parse_answer(response: requests.Response) -> Answer:
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == "text/xml; charset=utf-8"
    root = ET.fromstring(response.content)
    assert root.tag == "response"
    code = root.findtext("code")
    assert code is not None
    ids = [(el.attrib["phone"], el.text or "") for el in root.findall("msg_id")]
    return Answer(response, int(code), root.findtext("tech_message") or "", ids)


class Client:
    """Builds signed send and upload requests to a sandbox, by hand.

    The helpers ride on this fixture object because test modules cannot import conftest.
    """

    LOGIN = LOGIN
    SECRET = SECRET
    PHONE = PHONE
    PHONE2 = PHONE2
    PNG = PNG
    JPEG = JPEG
    GIF = GIF
    md5 = staticmethod(md5)
    send_sign = staticmethod(send_sign)
    upload_sign = staticmethod(upload_sign)
    form = staticmethod(form)
    parse_answer = staticmethod(parse_answer)

    def __init__(self, platform: SandboxPlatform) -> None:
        self.platform = platform

    def on(self, platform: SandboxPlatform) -> Client:
        """The same helpers aimed at another sandbox."""
        return Client(platform)

    def fields(
        self,
        *,
        user: str | None = LOGIN,
        sender: str | None = "MyShop",
        phones: Sequence[str] = (PHONE,),
        txt: str | bytes | None = "hello",
        charset: str | None = None,
        secret: str = SECRET,
        sign: str | None = "auto",
        sending_method: str | None = "viber",
        **extra: str | bytes,
    ) -> list[tuple[str, str | bytes]]:
        """Every field of a send; ``txt`` as str is encoded in ``charset`` (default UTF-8)."""
        encoding = {"CP1251": "cp1251", "UTF-16BE": "utf-16-be", "UCS-2": "utf-16-be"}
        txt_bytes = (
            txt.encode(encoding.get(charset or "", "utf-8")) if isinstance(txt, str) else txt
        )
        if sign == "auto":
            sign = send_sign(user or "", sender or "", phones, txt_bytes, secret)
        fields: list[tuple[str, str | bytes]] = []
        for name, value in (
            ("sending_method", sending_method),
            ("user", user),
            ("from", sender),
        ):
            if value is not None:
                fields.append((name, value))
        fields.extend(("phone", phone) for phone in phones)
        if txt_bytes is not None:
            fields.append(("txt", txt_bytes))
        if charset is not None:
            fields.append(("charset", charset))
        fields.extend(extra.items())
        if sign is not None:
            fields.append(("sign", sign))
        return fields

    def post(self, fields: Sequence[tuple[str, str | bytes]], timeout: float = TIMEOUT) -> Answer:
        response = requests.post(
            self.platform.send_url,
            data=form(fields),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            timeout=timeout,
        )
        return parse_answer(response)

    def send(self, **kwargs) -> Answer:
        return self.post(self.fields(**kwargs))

    def upload(
        self,
        data: bytes,
        filename: str = "picture.png",
        *,
        login: str | None = LOGIN,
        secret: str = SECRET,
        sign: str | None = "auto",
        include_image: bool = True,
    ) -> requests.Response:
        if sign == "auto":
            sign = upload_sign(login or "", data, secret)
        fields = {}
        if login is not None:
            fields["login"] = login
        if sign is not None:
            fields["sign"] = sign
        files = {"image": (filename, data, "application/octet-stream")} if include_image else None
        if not files:  # force multipart even without a file
            files = {"other": ("x.txt", b"x", "text/plain")}
        return requests.post(self.platform.media_url, data=fields, files=files, timeout=TIMEOUT)

    def image_id(self, data: bytes = PNG) -> str:
        answer = self.upload(data).json()
        assert answer["status"] == 0, answer
        return str(answer["image_id"])


@pytest.fixture
def client(sandbox: SandboxPlatform) -> Client:  # noqa: F811 (the imported fixture)
    return Client(sandbox)


@dataclass
class Received:
    method: str
    path: str
    params: list[tuple[str, str]]
    at: float

    @property
    def fields(self) -> dict[str, str]:
        return dict(self.params)


@dataclass
class Receiver:
    """A partner's callback endpoint: records every call, answers from a script."""

    url: str = ""
    calls: list[Received] = field(default_factory=list)
    answers: list[int] = field(default_factory=list)  # consumed in order, then 200
    lock: threading.Lock = field(default_factory=threading.Lock)
    arrived: threading.Condition = field(init=False)

    def __post_init__(self) -> None:
        self.arrived = threading.Condition(self.lock)

    def wait_for(self, count: int, timeout: float = 5.0) -> list[Received]:
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.calls) >= count, timeout)
            return list(self.calls)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def _handle(self) -> None:
            path, _, query = self.path.partition("?")
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode("utf-8") if length else ""
            params = parse_qsl(query, keep_blank_values=True) + parse_qsl(
                body, keep_blank_values=True
            )
            with state.arrived:
                state.calls.append(Received(self.command, path, params, time.monotonic()))
                status = state.answers.pop(0) if state.answers else 200
                state.arrived.notify_all()
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_GET = do_POST = _handle  # noqa: N815 (http.server's hook names)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_port}/callbacks/tok"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01})
    thread.daemon = True
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
