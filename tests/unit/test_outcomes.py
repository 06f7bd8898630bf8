"""One word for what happens to a send and to an image: every outcome has its metric (of
the same name) and every answer's outcome a state."""

from __future__ import annotations

import re

import pytest

from messaggio_core.protocol.answer import CODES, Outcome
from messaggio_core.protocol.media import UploadOutcome
from messaggio_core.protocol.surface import State
from messaggio_media.handler import METRIC as MEDIA_METRIC
from messaggio_sender.handler import METRIC as SEND_METRIC
from messaggio_sender.sending import settled_state


def camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def test_each_outcome_is_counted_under_its_own_name() -> None:
    assert {o: camel(o.name) for o in Outcome} == SEND_METRIC
    assert {o: "Media" + camel(o.name) for o in UploadOutcome} == MEDIA_METRIC
    assert all(re.fullmatch(r"[A-Z][A-Za-z]+", m) for m in SEND_METRIC.values())


@pytest.mark.parametrize("final", [False, True])
def test_each_answer_settles_the_send_in_a_state(final: bool) -> None:
    answered = {outcome for _, outcome in CODES.values()} | {Outcome.UNKNOWN}
    states = {outcome: settled_state(outcome, final) for outcome in answered}
    assert states[Outcome.SUBMITTED] is State.SUBMITTED
    assert states[Outcome.REJECTED] is State.REJECTED
    assert states[Outcome.UNKNOWN] is State.UNKNOWN
    retry = State.FAILED if final else State.PENDING
    assert states[Outcome.RETRIED] is states[Outcome.ACCOUNT_PROBLEM] is retry
