"""A cold start of the callbacks function loads no pydantic (README: "Cold start"): its
routes read the raw event and answer plain JSON, and the models that describe them are the
OpenAPI document's, bound by `handler.describe()` only when the document is made."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from tests.callbacks.conftest import opt_out_event, status_event
from tests.conftest import REGION, ROOT, SECRET_ID, TABLE, load_event
from tests.fixtures.child import answer_of

# A fresh interpreter (argv: a file of events) answers each event through the real handler
# over moto, then says which answers it gave and whether pydantic was loaded; then makes the
# document, the control: there pydantic must be loaded.
CHILD = """
import json, sys
import boto3
from moto import mock_aws
from messaggio_local.resources import create_secret, create_table
from messaggio_local.template import function_context
with mock_aws():
    create_table(boto3.client("dynamodb"), "MessagesTable", sys.argv[2])
    create_secret(boto3.client("secretsmanager"), sys.argv[3])
    from messaggio_callbacks import handler
    answers = []
    for event in json.load(open(sys.argv[1])):
        answer = handler.lambda_handler(event, function_context("CallbacksFunction"))
        answers.append([answer["statusCode"], json.loads(answer["body"] or "null")])
    before = "pydantic" in sys.modules
    from messaggio_local.openapi import openapi_document
    openapi_document()
    print(json.dumps({"answers": answers, "before": before, "after": "pydantic" in sys.modules}))
"""


def answer_in_a_fresh_interpreter(events: list[dict[str, Any]], tmp: Path) -> dict[str, Any]:
    path = tmp / "events.json"
    path.write_text(json.dumps(events))
    paths = ("layers/shared", "functions/callbacks", "devtools")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(str(ROOT / p) for p in paths),
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "MESSAGES_TABLE": TABLE,
        "RETENTION_DAYS": "90",
        "MESSAGGIO_SECRET_ID": SECRET_ID,
        "POWERTOOLS_METRICS_NAMESPACE": "MessaggioConnector",
    }
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "CALLBACK_ALLOWED_CIDRS"):
        env.pop(name, None)
    result: dict[str, Any] = answer_of(CHILD, str(path), TABLE, SECRET_ID, env=env)
    return result


def test_every_route_answers_without_loading_pydantic(tmp_path: Path) -> None:
    events = [
        load_event("callback_delivery_post.json"),  # a report, stored
        load_event("callback_delivery_post.json"),  # the same report again: a repeat
        load_event("callback_delivery_get.json"),  # a report in the query string
        status_event("order-404"),  # the status route (a query parameter declared)
        opt_out_event("PUT", "380501234567"),
        opt_out_event("GET", None),  # the list (two query parameters declared)
    ]
    result = answer_in_a_fresh_interpreter(events, tmp_path)
    assert [status for status, _ in result["answers"]] == [200, 200, 200, 404, 201, 200]
    stored = [body["stored"] for _, body in result["answers"][:3]]
    assert stored == [True, False, True]
    assert result["answers"][5][1]["opt_outs"][0]["phone"] == "380501234567"
    assert result["before"] is False
    # the control: the document's models are pydantic's, so the probe does see it loaded
    assert result["after"] is True
