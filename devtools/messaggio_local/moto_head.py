"""Makes moto in-process answer HEAD requests without a body, as HTTP (and so AWS) does.

moto in the same process (mock_aws) hands botocore its error body even for a HEAD request,
so HeadObject on a bucket that does not exist fails with the code `NoSuchBucket`. Over HTTP,
from S3 or from moto_server, a HEAD answer carries no body: botocore then takes the code from
the status ("404", "403"), whether the key or the bucket is missing. Here the body is dropped,
so the tests see the codes the functions see in AWS.
"""

from __future__ import annotations

import functools
from typing import Any

from moto.core.botocore_stubber import BotocoreStubber


def make_head_bodiless() -> None:
    """Idempotent."""
    real: Any = BotocoreStubber.process_request
    if getattr(real, "bodiless", False):
        return

    @functools.wraps(real)
    def process_request(self: BotocoreStubber, request: Any) -> Any:
        response = real(self, request)
        if response is None or request.method != "HEAD":
            return response
        status, headers, _ = response
        return status, headers, b""

    process_request.bodiless = True  # type: ignore[attr-defined]
    BotocoreStubber.process_request = process_request  # type: ignore[method-assign]
