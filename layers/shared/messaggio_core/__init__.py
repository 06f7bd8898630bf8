"""Shared code of the Messaggio connector, deployed as the functions' layer.

`protocol` holds the wire contract (docs/protocol.md), one module per section, pure
Python; `client` is the platform's HTTP; `dal` is the only code that touches AWS; `images` resolves
images by S3 reference, uploading them once.
"""
