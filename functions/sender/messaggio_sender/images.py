"""`image: s3://...` in a send request, resolved to an image_id.

The media cache and uploader arrive with the media function; until then a reference is
refused with a reason a producer can act on (give `image_id` instead).
"""

from __future__ import annotations

from messaggio_core.protocol.send import S3Ref
from messaggio_sender.sending import ImageResolution, ImageResolver
from messaggio_sender.settings import SenderSettings


class NoMediaCache:
    def resolve(self, ref: S3Ref) -> ImageResolution:
        return ImageResolution(
            refused="s3:// references are not supported yet; upload the image and give image_id"
        )


def image_resolver(config: SenderSettings) -> ImageResolver:
    return NoMediaCache()
