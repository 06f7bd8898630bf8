"""Byte-exact parsing of what arrives on the wire, and the shape of what a surface answers.

The platform signs bytes, not text (docs/protocol.md section C), so every value here stays bytes:
decoding is the checks' business, done with the request's ``charset`` where the protocol says so.
werkzeug's own form parsers decode to text, so only its Request (method, path, headers, media
type, body) is used here.
"""

from __future__ import annotations

import email.policy
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.parser import BytesHeaderParser
from urllib.parse import unquote_to_bytes

from werkzeug.wrappers import Request, Response

Params = list[tuple[str, bytes]]

FORM_TYPE = "application/x-www-form-urlencoded"
MULTIPART_TYPE = "multipart/form-data"
TEXT_TYPE = "text/plain; charset=utf-8"  # answers outside the protocol (404, 405, HTTP faults)


def parse_form(raw: bytes) -> Params:
    """Split ``a=1&b=2`` into (name, value-bytes) pairs, in order, keeping repeats.

    ``+`` is a space and ``%XX`` a raw byte, exactly as a form encoder wrote them; values are
    not decoded as text because only the charset says what they mean.
    """
    pairs: Params = []
    for chunk in raw.split(b"&"):
        if not chunk:
            continue
        name, _, value = chunk.partition(b"=")
        name_bytes = unquote_to_bytes(name.replace(b"+", b" "))
        value_bytes = unquote_to_bytes(value.replace(b"+", b" "))
        pairs.append((name_bytes.decode("utf-8", "replace"), value_bytes))
    return pairs


@dataclass(frozen=True)
class Part:
    """One part of a multipart/form-data body; ``data`` is the exact bytes between the headers
    and the next delimiter."""

    name: str
    filename: str | None
    content_type: str | None
    data: bytes


class MultipartError(ValueError):
    """The body is not well-formed multipart/form-data."""


def parse_multipart(body: bytes, boundary: str) -> list[Part]:
    """Parse multipart/form-data by hand so binary file bytes come back untouched.

    The email package's MIME parser normalises line endings in some payloads; splitting on
    the delimiter keeps every byte of an image exactly as sent, which the upload signature
    (an MD5 of the file) depends on.
    """
    if not boundary or len(boundary) > 200:
        raise MultipartError("bad boundary")
    delimiter = b"\r\n--" + boundary.encode("latin-1")
    chunks = (b"\r\n" + body).split(delimiter)
    if len(chunks) < 3:
        raise MultipartError("no parts")
    parts: list[Part] = []
    closed = False
    for chunk in chunks[1:]:
        if chunk.startswith(b"--"):
            closed = True
            break
        head_and_data = chunk.split(b"\r\n", 1)
        if len(head_and_data) != 2 or head_and_data[0].strip(b" \t"):
            raise MultipartError("junk after delimiter")
        if head_and_data[1].startswith(b"\r\n"):
            raise MultipartError("part without Content-Disposition")
        headers_raw, sep, data = head_and_data[1].partition(b"\r\n\r\n")
        if not sep:
            raise MultipartError("part without a header end")
        headers = BytesHeaderParser(policy=email.policy.HTTP).parsebytes(headers_raw + b"\r\n\r\n")
        if "content-disposition" not in headers:
            raise MultipartError("part without Content-Disposition")
        name = headers.get_param("name", header="content-disposition")
        filename = headers.get_param("filename", header="content-disposition")
        if not isinstance(name, str):
            raise MultipartError("part without a name")
        parts.append(
            Part(
                name=name,
                filename=filename if isinstance(filename, str) else None,
                content_type=headers.get("content-type"),
                data=data,
            )
        )
    if not closed:
        raise MultipartError("no closing delimiter")
    return parts


def request_params(request: Request) -> tuple[Params, list[Part], str | None]:
    """The parameters as sent: the query string's, then the form body's or the multipart parts'
    (a file part's value being the file's bytes); also the parts, and why a multipart body
    could not be parsed (None if it could)."""
    params = parse_form(request.query_string)
    parts: list[Part] = []
    error: str | None = None
    if request.mimetype == MULTIPART_TYPE:
        try:
            parts = parse_multipart(request.get_data(), request.mimetype_params.get("boundary", ""))
        except MultipartError as exc:
            error = str(exc)
        params.extend((part.name, part.data) for part in parts)
    elif request.mimetype == FORM_TYPE or (not request.content_type and request.method == "POST"):
        params.extend(parse_form(request.get_data()))
    return params, parts, error


@dataclass(frozen=True)
class Answer:
    """A surface's answer to one request, and what it made of the request (for the record).

    ``accepted`` means the platform took it (send code 0, upload status 0).
    """

    response: Response
    code: int | None = None
    accepted: bool = False
    msg_ids: Mapping[str, str] = field(default_factory=dict)
