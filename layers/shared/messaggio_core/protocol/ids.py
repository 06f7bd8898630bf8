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
"""

from __future__ import annotations

import re
from typing import Final

IMAGE_ID_MAX: Final = 64
MSG_ID_MAX: Final = 64
MSG_ID_PATTERN: Final = re.compile(rf"[A-Za-z0-9._:\-]{{1,{MSG_ID_MAX}}}")
TRANSACTION_ID_PATTERN: Final = re.compile(r"(?!\.\.?\Z)[A-Za-z0-9._:\-]{1,64}")
PHONE_PATTERN: Final = re.compile(r"[0-9]{7,15}")
