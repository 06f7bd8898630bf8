"""Section F: checks by content, and the upload answer read defensively."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from messaggio_core.protocol.media import (
    MAX_BYTES,
    UploadOutcome,
    local_problem,
    read_upload_answer,
    sniff,
)

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 20
JPEG = b"\xff\xd8\xff\xe0" + b"\0" * 20
GIF = b"GIF89a" + b"\0" * 20


def test_sniff_by_content() -> None:
    assert sniff(PNG) == "image/png"
    assert sniff(JPEG) == "image/jpeg"
    assert sniff(GIF) == "image/gif"
    assert sniff(b"GIF87a...") == "image/gif"
    assert sniff(b"%PDF-1.4") is None


def test_local_problems() -> None:
    assert local_problem(0, b"") == "empty file"
    assert "maximum size" in (local_problem(MAX_BYTES + 1, PNG) or "")
    assert local_problem(MAX_BYTES, PNG) is None
    assert "not a JPG" in (local_problem(10, b"hello world") or "")


def test_answers() -> None:
    ok = read_upload_answer(b'{"status": 0, "image_id": "' + b"A" * 64 + b'"}')
    assert ok.outcome is UploadOutcome.UPLOADED and ok.image_id == "A" * 64
    refused = read_upload_answer(b'{"status": 4, "error": "bad format"}')
    assert refused.outcome is UploadOutcome.REFUSED and refused.status == 4
    assert "bad format" in refused.reason


def test_the_predecessors_invalid_json_error_is_still_read() -> None:
    answer = read_upload_answer(b'{"status": 2, error: "Invalid sign"}')
    assert answer.outcome is UploadOutcome.REFUSED and answer.status == 2


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"<html>502</html>",
        b'{"status": 0}',
        b'{"status": 9, "error": "?"}',
        b"[]",
        b'{"status": "0"}',
    ],
)
def test_unreadable_answers_are_retried(raw: bytes) -> None:
    assert read_upload_answer(raw).outcome is UploadOutcome.RETRIED


@given(st.binary(max_size=200))
def test_any_bytes_give_an_outcome(raw: bytes) -> None:
    assert read_upload_answer(raw).outcome in UploadOutcome
