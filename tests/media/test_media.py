"""The media function through its real handler: events/ files, moto S3 and DynamoDB, the
sandbox platform over loopback."""

from __future__ import annotations

import hashlib
import io
import json
from email.parser import BytesParser
from email.policy import HTTP

import pytest
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from messaggio_core.failures import RetryLater
from messaggio_media.uploads import BadNotification, objects
from messaggio_sandbox import Fault
from tests.conftest import png
from tests.fixtures.media import Media

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(200))
GIF = b"GIF89a" + bytes(range(100))


def uploaded_parts(media: Media, index: int = -1) -> dict[str, bytes]:
    request = media.sandbox.uploads()[index]
    content_type = request.headers["Content-Type"]
    message = BytesParser(policy=HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + request.body
    )
    parts: dict[str, bytes] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        assert isinstance(name, str) and isinstance(payload, bytes)
        parts[name] = payload
    return parts


@pytest.mark.parametrize("content", [png(1), JPEG, GIF], ids=["png", "jpeg", "gif"])
def test_each_format_uploads_with_the_right_signature(media: Media, content: bytes) -> None:
    media.put("promo/winter sale.png", content)

    assert media.invoke(media.event("media_new_image.json")) == []

    (request,) = media.sandbox.uploads()
    assert request.code == 0
    parts = uploaded_parts(media)
    assert parts["login"] == b"acme"
    assert parts["image"] == content
    md5 = hashlib.md5(content).hexdigest()
    assert parts["sign"] == hashlib.md5(f"acme{md5}s3cr3t-Key".encode()).hexdigest().encode()
    assert media.image_id_of("promo/winter sale.png") in media.sandbox.image_ids


def test_the_same_event_twice_uploads_once(media: Media) -> None:
    media.put("promo/winter sale.png", png(2))
    event = media.event("media_new_image.json")
    assert media.invoke(event) == []
    assert media.invoke(event) == []
    assert len(media.sandbox.uploads()) == 1


def test_the_same_bytes_under_another_key_upload_once(media: Media) -> None:
    media.put("promo/winter sale.png", png(3))
    media.put("promo/copy-of-winter-sale.png", png(3))
    media.invoke(media.event("media_new_image.json"))
    media.invoke(media.event("media_duplicate.json"))
    assert len(media.sandbox.uploads()) == 1
    first = media.image_id_of("promo/winter sale.png")
    assert first is not None and media.image_id_of("promo/copy-of-winter-sale.png") == first


def test_a_changed_object_uploads_the_new_content(media: Media) -> None:
    event = media.event("media_new_image.json")
    media.put("promo/winter sale.png", png(4))
    media.invoke(event)
    old = media.image_id_of("promo/winter sale.png")
    media.put("promo/winter sale.png", png(5))
    media.invoke(event)
    new = media.image_id_of("promo/winter sale.png")
    assert len(media.sandbox.uploads()) == 2
    assert old is not None and new is not None and old != new
    # the old content's entry (and image_id) stays for sends that already used it
    cached = media.store.image(hashlib.md5(png(4)).hexdigest())
    assert cached is not None and cached.image_id == old


def test_a_non_image_is_refused_recorded_and_not_retried(media: Media) -> None:
    media.put("promo/price-list.pdf", b"%PDF-1.4\n" + bytes(500))
    event = media.event("media_not_an_image.json")
    assert media.invoke(event) == []
    assert media.invoke(event) == []
    assert media.sandbox.uploads() == []
    md5 = hashlib.md5(b"%PDF-1.4\n" + bytes(500)).hexdigest()
    cached = media.store.image(md5)
    assert cached is not None and cached.state == "refused"
    assert "not a JPG, PNG or GIF" in (cached.reason or "")


def test_an_oversized_file_is_refused_without_upload(media: Media) -> None:
    media.put("promo/huge.jpg", b"\xff\xd8\xff" + bytes(10 * 1024 * 1024 - 2))
    assert media.invoke(media.event("media_oversized.json")) == []
    assert media.sandbox.uploads() == []
    pointer = media.store.pointer(media.bucket, "promo/huge.jpg")
    assert pointer is not None and "maximum size" in (pointer.reason or "")


@pytest.mark.parametrize("status", [1, 2, 3, 4])
def test_a_platform_refusal_is_recorded_and_not_retried(media: Media, status: int) -> None:
    media.put("promo/winter sale.png", png(6))
    media.sandbox.inject(Fault.upload_status(status), kind="upload")
    event = media.event("media_new_image.json")
    assert media.invoke(event) == []
    assert media.invoke(event) == []
    assert len(media.sandbox.uploads()) == 1
    cached = media.store.image(hashlib.md5(png(6)).hexdigest())
    assert cached is not None and cached.state == "refused"


@pytest.mark.parametrize("fault", [Fault.http(503), Fault.drop(), Fault.hang(4.0)])
def test_transient_failures_are_retried_then_uploaded_once(media: Media, fault: Fault) -> None:
    media.put("promo/winter sale.png", png(7))
    media.sandbox.inject(fault, kind="upload")
    event = media.event("media_new_image.json")
    assert media.invoke(event) == [event["Records"][0]["messageId"]]
    assert media.image_id_of("promo/winter sale.png") is None
    assert media.invoke(event) == []
    accepted = [u for u in media.sandbox.uploads() if u.code == 0 and u.status == 200]
    assert len(accepted) == 1
    assert media.image_id_of("promo/winter sale.png") == json.loads(accepted[0].answer)["image_id"]


def test_a_test_event_and_junk_bodies_are_not_retried(media: Media) -> None:
    event = media.event("media_new_image.json")
    event["Records"][0]["body"] = json.dumps({"Event": "s3:TestEvent", "Bucket": media.bucket})
    assert media.invoke(event) == []
    event["Records"][0]["body"] = "not json"
    assert media.invoke(event) == []
    assert media.sandbox.uploads() == []


def sqs_record(body: str) -> SQSRecord:
    return SQSRecord({"messageId": "m-1", "body": body})


def test_notification_keys_are_url_decoded() -> None:
    body = json.dumps(
        {
            "Records": [
                {
                    "eventName": "ObjectCreated:Put",
                    "s3": {"bucket": {"name": "media-b"}, "object": {"key": "a+b%2Bc%C3%A9.png"}},
                }
            ]
        }
    )
    (ref,) = objects(sqs_record(body))
    assert ref.key == "a b+cé.png"
    with pytest.raises(BadNotification):
        objects(sqs_record('{"Records": [{"eventName": "ObjectCreated:Put"}]}'))


@pytest.mark.parametrize(
    ("bucket", "key"),
    [("bkt", "k" * 1025), ("bkt", "é" * 513), ("b" * 64, "a.png"), ("Bad_Bucket", "a.png")],
)
def test_a_notification_naming_what_s3_never_would_is_refused_and_logged_small(
    media: Media, media_log: io.StringIO, bucket: str, key: str
) -> None:
    record = {
        "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": bucket}, "object": {"key": key}},
    }
    with pytest.raises(BadNotification):
        objects(sqs_record(json.dumps({"Records": [record]})))
    event = media.event("media_new_image.json")
    event["Records"][0]["body"] = json.dumps({"Records": [record] * 10})
    assert media.invoke(event) == []
    assert media.sandbox.uploads() == []
    lines = media_log.getvalue().splitlines()
    assert lines and max(len(line) for line in lines) < 1024


def test_an_image_older_than_the_maximum_age_is_uploaded_again(media: Media) -> None:
    """MediaMaxAgeDays: past it the same content uploads again; before it, it does not."""
    from messaggio_core.client import PlatformClient
    from messaggio_core.dal.media import MediaStore
    from messaggio_core.dal.secrets import credentials
    from messaggio_core.images import ImageCache
    from messaggio_core.protocol.ids import S3Ref
    from tests.conftest import SECRET_ID, TABLE

    now = [1_000_000.0]
    store = MediaStore(TABLE, 90, clock=lambda: now[0])
    cache = ImageCache(
        store,
        PlatformClient(None, media.sandbox.media_url),
        lambda: credentials(SECRET_ID),
        max_age_days=2,
        clock=lambda: now[0],
    )
    media.put("promo/a.png", png(21))
    ref = S3Ref(media.bucket, "promo/a.png")
    first = cache.resolve(ref)
    now[0] += 86_400  # a day later: still fresh
    assert cache.resolve(ref).image_id == first.image_id
    now[0] += 2 * 86_400  # three days after the upload: too old
    second = cache.resolve(ref)
    assert second.uploaded and second.image_id != first.image_id
    assert len(media.sandbox.uploads()) == 2
    assert cache.resolve(ref).image_id == second.image_id


def test_a_plain_s3_notification_uploads_too(media: Media) -> None:
    """S3 invoking the function itself: what `sam local generate-event s3 put` makes."""
    media.put("promo/winter sale.png", png(7))
    assert media.invoke(media.event("media_s3_put.json")) == []
    (request,) = media.sandbox.uploads()
    assert request.code == 0
    assert media.image_id_of("promo/winter sale.png") in media.sandbox.image_ids
    # the same notification again: cached, not uploaded twice
    assert media.invoke(media.event("media_s3_put.json")) == []
    assert len(media.sandbox.uploads()) == 1


def test_a_plain_s3_notification_that_cannot_upload_yet_fails_the_invocation(
    media: Media,
) -> None:
    """S3's asynchronous invoke retries a failed invocation: nothing is lost."""
    media.put("promo/winter sale.png", png(8))
    media.sandbox.inject(Fault.http(503), kind="upload")
    with pytest.raises(RetryLater):
        media.invoke(media.event("media_s3_put.json"))
    assert media.image_id_of("promo/winter sale.png") is None
