"""The identifiers that cross sections, each bounded in one place.

- image_id (sections A and F): [doc] String(64); [prev] "a 64-character id".
- msg_id (sections D and E): [prev] 36 characters (a UUID); [ours] up to 64 accepted, so a
  longer id from the platform is never refused, and only characters that need no escaping.
- p_transaction_id (sections B and G): [ours] the idempotency key, and the `id` of
  GET /messages/{id}: a URL path segment, so only characters that need no escaping, and
  never `.` or `..`, which HTTP clients remove from a path (RFC 3986, 5.2.4) so that the
  status of such a send could never be asked for.
- phone (sections A and D, and the opt-out list): [doc] digits only, no "+"; [ours] 7 to 15
  digits: E.164 caps a number at 15.
- S3 reference (a send's `image: s3://...`, section A, and the media function's objects,
  section F): `S3Ref`. Here, not in `send`, so the media function imports no pydantic.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

IMAGE_ID_MAX: Final = 64
MSG_ID_MAX: Final = 64
MSG_ID_PATTERN: Final = re.compile(rf"[A-Za-z0-9._:\-]{{1,{MSG_ID_MAX}}}")
TRANSACTION_ID_PATTERN: Final = re.compile(r"(?!\.\.?\Z)[A-Za-z0-9._:\-]{1,64}")
PHONE_PATTERN: Final = re.compile(r"[0-9]{7,15}")

# [ours] an S3 key is at most 1,024 bytes (S3's own limit), so a reference is bounded.
S3_KEY_MAX_BYTES: Final = 1024
S3_BUCKET_PATTERN: Final = re.compile(r"[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]")
S3_REF_PATTERN: Final = re.compile(rf"s3://(?P<bucket>{S3_BUCKET_PATTERN.pattern})/(?P<key>.+)")


@dataclass(frozen=True, slots=True)
class S3Ref:
    bucket: str
    key: str

    @property
    def valid(self) -> bool:
        """[ours] a name S3 could have given (a bucket name, a key of at most 1,024 bytes):
        anything else would make every S3 call fail, and be retried for nothing."""
        try:
            size = len(self.key.encode("utf-8"))
        except UnicodeEncodeError:  # a lone surrogate: no S3 key is that
            return False
        return size <= S3_KEY_MAX_BYTES and S3_REF_PATTERN.fullmatch(str(self)) is not None

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}"
