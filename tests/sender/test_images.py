"""`image: s3://...` sends: resolved through the media function's cache, uploaded once
whichever of the sender and the media function comes first."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator

import boto3
import pytest

from messaggio_local.template import function_context
from messaggio_media import handler as media_handler
from messaggio_media.settings import settings as media_settings
from messaggio_sandbox import Fault
from tests.conftest import MEDIA_BUCKET, load_event, png
from tests.fixtures.sender import Sender, body

KEY = "promo/winter sale.png"
REF = f"s3://{MEDIA_BUCKET}/{KEY}"


@pytest.fixture
def with_media(
    sender: Sender, media_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Sender]:
    monkeypatch.setenv("MESSAGGIO_MEDIA_URL", sender.sandbox.media_url)
    media_settings.cache_clear()
    media_handler.image_cache.cache_clear()
    boto3.client("s3").put_object(Bucket=MEDIA_BUCKET, Key=KEY, Body=png(11))
    yield sender
    media_handler.image_cache.cache_clear()
    media_settings.cache_clear()


def media_event() -> None:
    event = load_event("media_new_image.json")
    answer = media_handler.lambda_handler(event, function_context("MediaFunction"))
    assert answer["batchItemFailures"] == []


def sent_image_id(sender: Sender) -> str:
    image_id = sender.sandbox.sends()[-1].param("image_id")
    assert image_id is not None
    return image_id.decode()


def test_by_reference_before_the_s3_event(with_media: Sender) -> None:
    sender = with_media
    event = sender.event("sqs_picture_by_reference.json")
    assert sender.invoke(event) == []
    assert len(sender.sandbox.uploads()) == 1
    assert sent_image_id(sender) in sender.sandbox.image_ids
    media_event()  # the notification arrives late: nothing to upload
    assert len(sender.sandbox.uploads()) == 1
    assert sender.state("promo-7-by-reference")["state"] == "submitted"


def test_by_reference_after_the_s3_event(with_media: Sender) -> None:
    sender = with_media
    media_event()
    assert len(sender.sandbox.uploads()) == 1
    sender.invoke(sender.event("sqs_picture_by_reference.json"))
    sender.invoke(sender.batch([body(image=REF, txt=None)]))
    assert len(sender.sandbox.uploads()) == 1
    assert len(sender.sandbox.sends()) == 2
    assert sent_image_id(sender) in sender.sandbox.image_ids


def test_sender_and_media_function_at_once_upload_once(with_media: Sender) -> None:
    sender = with_media
    sender.sandbox.inject(Fault.latency(0.5), kind="upload")
    event = sender.batch([body(image=REF, txt=None)])
    errors: list[BaseException] = []

    def run(fn: object) -> None:
        try:
            fn()  # type: ignore[operator]
        except BaseException as exc:
            errors.append(exc)

    threads = [
        threading.Thread(target=run, args=(media_event,)),
        threading.Thread(target=run, args=(lambda: sender.invoke(event),)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(sender.sandbox.uploads()) == 1
    assert len(sender.sandbox.sends()) == 1


@pytest.mark.parametrize(
    ("key", "content", "reason"),
    [
        ("missing.png", None, "no such object"),
        ("notes.txt", b"just text, not an image", "not a JPG, PNG or GIF"),
    ],
)
def test_an_unusable_reference_is_rejected_with_its_reason(
    with_media: Sender, key: str, content: bytes | None, reason: str
) -> None:
    sender = with_media
    if content is not None:
        boto3.client("s3").put_object(Bucket=MEDIA_BUCKET, Key=key, Body=content)
    event = sender.batch([body("ref-bad", image=f"s3://{MEDIA_BUCKET}/{key}", txt=None)])
    assert sender.invoke(event) == []
    view = sender.state("ref-bad")
    assert view["state"] == "rejected" and reason in view["reason"]
    assert sender.sandbox.sends() == [] and sender.sandbox.uploads() == []


def test_an_upload_failure_retries_the_send_later(with_media: Sender) -> None:
    sender = with_media
    sender.sandbox.inject(Fault.http(503), kind="upload")
    event = sender.batch([body("ref-retry", image=REF, txt=None)])
    assert len(sender.invoke(event)) == 1
    assert sender.sandbox.sends() == []
    assert sender.invoke(event) == []
    assert json.loads(sender.sandbox.uploads()[-1].answer)["status"] == 0
    assert sender.state("ref-retry")["state"] == "submitted"
