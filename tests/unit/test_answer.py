"""Section D: the send answer, read safely, mapped to outcomes, msg_ids paired."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from messaggio_core.protocol.answer import Outcome, read_answer

PHONES = ["79031234567", "79165557755"]
OK = b"""<?xml version="1.0"?>
<response>
    <tech_message>OK</tech_message>
    <code>0</code>
    <msg_id phone="79031234567">550e8400-e29b-41d4-a716-446655440000</msg_id>
    <msg_id phone="79165557755">550e8400-e29b-41d4-a716-446655440001</msg_id>
</response>"""


def test_submitted_pairs_msg_ids_with_phones() -> None:
    answer = read_answer(OK, PHONES)
    assert answer.outcome is Outcome.SUBMITTED and answer.code == 0
    assert answer.msg_ids == {
        "79031234567": "550e8400-e29b-41d4-a716-446655440000",
        "79165557755": "550e8400-e29b-41d4-a716-446655440001",
    }


@pytest.mark.parametrize(
    ("code", "outcome"),
    [
        (-1, Outcome.REJECTED),
        (-2, Outcome.ACCOUNT_PROBLEM),
        (-3, Outcome.REJECTED),
        (-4, Outcome.RETRIED),
        (-5, Outcome.ACCOUNT_PROBLEM),
    ],
)
def test_codes(code: int, outcome: Outcome) -> None:
    xml = (
        f"<response><code>{code}</code><tech_message>PARAM ERROR (phone)</tech_message></response>"
    )
    answer = read_answer(xml.encode(), PHONES)
    assert answer.outcome is outcome
    assert answer.reason == "PARAM ERROR (phone)"
    assert answer.msg_ids == {}


@pytest.mark.parametrize(
    "xml",
    [
        b"",
        b"<html>502 Bad Gateway</html>",
        b"<response><tech_message>OK</tech_message></response>",
        b"<response><code>zero</code></response>",
        b"<response><code>7</code></response>",
        b"<response><code>0</code>",
        b"\xff\xfe<",
    ],
)
def test_unreadable_answers_are_unknown_not_exceptions(xml: bytes) -> None:
    assert read_answer(xml, PHONES).outcome is Outcome.UNKNOWN


def test_entity_expansion_is_refused() -> None:
    bomb = b"""<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>
<response><code>0</code><tech_message>&b;</tech_message></response>"""
    answer = read_answer(bomb, PHONES)
    assert answer.outcome is Outcome.UNKNOWN


def test_msg_id_for_a_phone_not_sent_is_ignored() -> None:
    xml = OK.replace(b"79165557755", b"70000000000")
    answer = read_answer(xml, PHONES)
    assert answer.outcome is Outcome.SUBMITTED
    assert answer.msg_ids == {"79031234567": "550e8400-e29b-41d4-a716-446655440000"}
    assert "1 recipient(s) without msg_id, 1 msg_id ignored" in answer.reason


@given(st.binary(max_size=300))
def test_any_bytes_give_an_outcome(data: bytes) -> None:
    assert read_answer(data, PHONES).outcome in Outcome
