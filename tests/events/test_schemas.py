"""The JSON Schemas in schemas/: one per detail type the events function publishes, and the
send request body generated from the sender's model (the two must not disagree)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from jsonschema import Draft202012Validator, FormatChecker, ValidationError
from pydantic import ValidationError as ModelError

from messaggio_core.protocol.send import SendBody
from messaggio_events.domain import DetailType, event_id
from messaggio_local.schemas import SEND_REQUEST, render
from tests.conftest import EVENTS
from tests.fixtures.events import SCHEMAS, schema_path, validator


def test_send_request_schema_is_generated_from_the_model() -> None:
    assert SEND_REQUEST.read_text() == render(), (
        "schemas/send-request.json disagrees with SendBody: run `make schemas`"
    )


def _bodies() -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for path in sorted(EVENTS.glob("sqs_*.json")):
        for n, record in enumerate(json.loads(path.read_text())["Records"]):
            try:
                out.append((f"{path.name}[{n}]", json.loads(record["body"])))
            except ValueError:
                continue  # not JSON at all: no schema applies
    return out


@pytest.mark.parametrize(("name", "body"), _bodies(), ids=[n for n, _ in _bodies()])
def test_every_body_the_model_accepts_the_schema_accepts(name: str, body: Any) -> None:
    schema = json.loads(SEND_REQUEST.read_text())
    checker = Draft202012Validator(schema)
    try:
        SendBody.model_validate(body)
    except ModelError:
        return  # refused by a rule beyond types (protocol.md A/B); the schema may accept it
    checker.validate(body)


def test_the_send_request_schema_refuses_what_the_model_refuses_by_type() -> None:
    checker = Draft202012Validator(json.loads(SEND_REQUEST.read_text()))
    good = {"sending_method": "viber", "from": "MyShop", "phone": ["380501234567"], "txt": "hi"}
    checker.validate(good)
    for broken in (
        {**good, "colour": "red"},  # an unknown field
        {k: v for k, v in good.items() if k != "phone"},
        {**good, "phone": "380501234567"},  # not a list
        {**good, "sending_method": "fax"},
    ):
        with pytest.raises(ValidationError):
            checker.validate(broken)
        with pytest.raises(ModelError):
            SendBody.model_validate(broken)


def test_every_detail_type_has_a_schema_and_nothing_else_does() -> None:
    expected = {schema_path(d.value).name for d in DetailType} | {SEND_REQUEST.name}
    assert {p.name for p in SCHEMAS.glob("*.json")} == expected
    for detail_type in DetailType:
        schema = json.loads(schema_path(detail_type.value).read_text())
        assert schema["title"] == detail_type.value
        assert "event_id" in schema["required"]


STATUS = {
    "p_transaction_id": "order-1042",
    "phone": "380501234567",
    "msg_id": "550e8400-e29b-41d4-a716-446655440000",
    "status": "delivered",
    "previous_status": "undelivered",
    "status_extended": {"code": "VIBER_USER_NOT_FOUND", "reason": "no Viber app"},
    "reported_at": "2026-11-26T14:05:00.12Z",
    "event_id": event_id("status", "order-1042", "550e8400", "delivered"),
}


@pytest.mark.parametrize(
    "change",
    [
        {"event_id": "not-a-uuid"},
        {"status": "read"},
        {"reported_at": "yesterday"},
        {"phone": "+380501234567"},
        {"status_extended": "VIBER_USER_NOT_FOUND"},
        {"extra": 1},
    ],
)
def test_the_status_schema_refuses_a_wrong_detail(change: dict[str, Any]) -> None:
    check = validator(DetailType.STATUS.value)
    check.validate(STATUS)
    with pytest.raises(ValidationError):
        check.validate({**copy.deepcopy(STATUS), **change})
    missing = dict(STATUS)
    del missing["previous_status"]
    with pytest.raises(ValidationError):
        check.validate(missing)
    assert isinstance(check.format_checker, FormatChecker)
