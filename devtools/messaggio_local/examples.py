"""What the shipped events (events/) name, put in place by `make up`, so each works as
shipped against it: the images the media and picture events refer to, and the image_id the
picture events send."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3

from messaggio_local.template import ROOT

SAMPLE = ROOT / "events" / "winter-sale.png"  # ours: a 48x48 PNG
# The image_id events/sqs_picture.json and sqs_text_picture_button.json send; the sandbox
# takes it as issued by an earlier upload.
IMAGE_ID = "SANDBOXIMAGEID"


def objects() -> dict[str, bytes]:
    """The media bucket's keys the events name, with contents that do what each event is
    about: a new image, the same bytes under another key, a non-image, an oversized file."""
    sample = SAMPLE.read_bytes()
    return {
        "promo/winter sale.png": sample,
        "promo/copy-of-winter-sale.png": sample,
        "promo/price-list.pdf": b"%PDF-1.4\n% not an image\n",
        "promo/huge.jpg": b"\xff\xd8\xff\xe0" + bytes(10 * 1024 * 1024),
    }


def seed(stack: Any) -> None:
    """Puts the events' objects in the media bucket (the media function then uploads the
    image, as for any new object) and tells the sandbox the events' image_id."""
    bucket = stack.output("MediaBucket")
    s3 = boto3.client("s3")
    for key, content in objects().items():
        s3.put_object(Bucket=bucket, Key=key, Body=content)
    if stack.sandbox is not None:
        stack.sandbox.know_image(IMAGE_ID)


def fresh(path: Path, suffix: str) -> dict[str, Any]:
    """An SQS event of events/ with `suffix` added to every p_transaction_id and messageId,
    so it is sent again rather than recognised as a repeat (sends are once-only by id)."""
    event: dict[str, Any] = json.loads(path.read_text())
    for record in event.get("Records", []):
        if "messageId" in record:
            record["messageId"] = f"{record['messageId']}-{suffix}"
        try:
            body = json.loads(record.get("body", ""))
        except ValueError:
            continue
        if isinstance(body, dict) and isinstance(body.get("p_transaction_id"), str):
            body["p_transaction_id"] = f"{body['p_transaction_id']}-{suffix}"
            record["body"] = json.dumps(body, ensure_ascii=False)
    return event
