"""Shared code of the Messaggio connector, deployed as the functions' layer.

`protocol` holds the wire contract (../shared/protocol.md), one module per section, pure
Python; `client` is the platform's HTTP; `store` is the only module that touches AWS.
"""
