"""The wire contract, one module per section of docs/protocol.md.

Every rule is tagged where it is defined: [doc] from the platform's own document, [prev] from
its predecessor's public document (SMS Online), [ours] decided by this project. A correction
to a rule is a change in one place.

- section A and B: `send` (the send request and the queue body)
- section A (charset), SMS parts: `encoding`
- section C and F (signatures): `signature`
- section D: `answer`
- section E: `reports`
- section F: `media`
- section G: `surface`
- identifiers that cross sections (image_id, msg_id, p_transaction_id, S3 references): `ids`
"""
