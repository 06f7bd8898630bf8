"""The REST API's OpenAPI document, generated from the callbacks function's own routes.

`PYTHONPATH=layers/shared:functions/callbacks:devtools .venv/bin/python -m
messaggio_local.openapi` rewrites functions/callbacks/openapi.json, and
tests/callbacks/test_callbacks_status.py fails when the committed file no longer matches
the handler, so the document cannot drift from the code.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Final

from aws_lambda_powertools.event_handler.openapi.models import APIKey, Server, ServerVariable

from messaggio_callbacks.handler import SIGV4, describe
from messaggio_local.template import ROOT

DOCUMENT: Final = ROOT / "functions" / "callbacks" / "openapi.json"


def openapi_document() -> str:
    """The document as the handler's resolver describes it (stable: no dates, no hosts)."""
    sigv4 = APIKey.model_validate(
        {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "AWS Signature Version 4 (IAM): callers need execute-api:Invoke.",
            "x-amazon-apigateway-authtype": "awsSigv4",
        }
    )
    server = Server(
        url="https://{api_id}.execute-api.{region}.amazonaws.com/v1",
        description="The stack's ConnectorApi (outputs CallbackUrlPattern, StatusUrlPattern).",
        variables={
            "api_id": ServerVariable(default="api_id", description="ConnectorApi's id"),
            "region": ServerVariable(default="eu-west-1"),
        },
    )
    return (
        describe().get_openapi_json_schema(
            title="Messaggio connector",
            version="1",
            description="Delivery, seen and reply reports from the Messaggio platform "
            "(docs/protocol.md section E), the status of a send (section G) and the opt-out list.",
            servers=[server],
            security_schemes={SIGV4: sigv4},
        )
        + "\n"
    )


def main(argv: list[str]) -> int:
    target = Path(argv[0]) if argv else DOCUMENT
    target.write_text(openapi_document(), encoding="utf-8")
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
