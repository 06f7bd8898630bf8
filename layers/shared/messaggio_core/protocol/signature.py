"""Section C (send) and section F (media) signatures. [prev]

send:  lowercase hex MD5(user + from + phone_1 + ... + phone_n + txt + secret_key)
media: lowercase hex MD5(login + lowercase hex MD5(file bytes) + secret_key)

The `txt` term is the bytes sent, in the request's charset [ours: the predecessor's clients
hashed the raw text, which is the same thing for UTF-8]. Without `txt` (a picture) the term is
left out. No other parameter is signed. MD5 is the platform's choice, not a security claim of
ours, hence `usedforsecurity=False`.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Sequence


def send_signature(
    user: str, sender: str, phones: Sequence[str], txt: bytes | None, secret_key: str
) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    digest.update(user.encode())
    digest.update(sender.encode())
    for phone in phones:
        digest.update(phone.encode())
    if txt is not None:
        digest.update(txt)
    digest.update(secret_key.encode())
    return digest.hexdigest()


def file_md5(chunks: Iterable[bytes]) -> str:
    """MD5 of a file read in chunks, so a 10 MB image never needs to be whole in memory."""
    digest = hashlib.md5(usedforsecurity=False)
    for chunk in chunks:
        digest.update(chunk)
    return digest.hexdigest()


def media_signature(login: str, content_md5: str, secret_key: str) -> str:
    return hashlib.md5(
        (login + content_md5 + secret_key).encode(), usedforsecurity=False
    ).hexdigest()


def same_secret(given: str, expected: str) -> bool:
    """Constant-time comparison, for tokens and signatures received from outside."""
    return hmac.compare_digest(given.encode(), expected.encode())
