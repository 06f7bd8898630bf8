"""Section D: the platform's answer to a send, and what the connector makes of it.

[prev] the XML shape and the codes with their "repeat" column. [ours] the outcome of each
code, and what an answer that cannot be read means: the request reached the platform, so
it may have been processed; it is never re-sent blindly (UNKNOWN).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final
from xml.etree.ElementTree import ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from messaggio_core.protocol.ids import MSG_ID_MAX


class Outcome(StrEnum):
    """What one delivery of a send request came to: the one word for it everywhere. The
    platform's answer (below) gives the first five; the sender settles the send in the
    state each maps to (messaggio_sender.sending.settled_state) and counts it under the
    metric of the same name (messaggio_sender.handler.METRIC: RETRIED is `Retried`)."""

    SUBMITTED = "submitted"  # code 0
    REJECTED = "rejected"  # -1, -3 (or refused by the connector): never retried
    ACCOUNT_PROBLEM = "account_problem"  # -2, -5: kept for retry, backed off, alarmed
    RETRIED = "retried"  # -4 (and, from the client, 5xx/429/not sent): tried again later
    UNKNOWN = "unknown"  # sent, but the answer is lost or unreadable: never re-sent
    # [ours] found at the claim, before any call: never an answer's outcome.
    DUPLICATE = "duplicate"  # already sent or settled by another copy: nothing to do
    IN_FLIGHT = "in_flight"  # another invocation is sending it right now: look again later

    @property
    def retried(self) -> bool:
        """The record goes back to the queue (the batch answer names it)."""
        return self in (Outcome.RETRIED, Outcome.ACCOUNT_PROBLEM, Outcome.IN_FLIGHT)


# [prev] code -> meaning; [ours] the outcome.
CODES: Final[dict[int, tuple[str, Outcome]]] = {
    0: ("processed", Outcome.SUBMITTED),
    -1: ("incorrect input data", Outcome.REJECTED),
    -2: ("authentication error", Outcome.ACCOUNT_PROBLEM),
    -3: ("request rejected", Outcome.REJECTED),
    -4: ("temporary technical error", Outcome.RETRIED),
    -5: ("no SMS left on the account", Outcome.ACCOUNT_PROBLEM),
}

ANSWER_MAX_BYTES: Final = 1_000_000  # [ours] a send answer is small; more is not an answer


@dataclass(frozen=True, slots=True)
class SendAnswer:
    outcome: Outcome
    code: int | None
    reason: str  # tech_message, or why the answer could not be read
    msg_ids: dict[str, str] = field(default_factory=dict)  # phone -> msg_id


def read_answer(xml: bytes, phones: list[str]) -> SendAnswer:
    """The platform's XML to an outcome; never raises.

    `msg_id`s are paired with the phones sent; one for a phone not sent, or a second one
    for the same phone, is ignored (and said in `reason`), never trusted.
    """
    if len(xml) > ANSWER_MAX_BYTES:
        return SendAnswer(Outcome.UNKNOWN, None, "answer too large to be a send answer")
    try:
        root = fromstring(xml, forbid_dtd=True)
    except (ParseError, DefusedXmlException, ValueError) as exc:
        return SendAnswer(Outcome.UNKNOWN, None, f"unreadable answer ({type(exc).__name__})")
    if root.tag != "response":
        return SendAnswer(Outcome.UNKNOWN, None, f"unexpected answer element <{root.tag}>")
    code_text = (root.findtext("code") or "").strip()
    tech_message = (root.findtext("tech_message") or "").strip()[:500]
    try:
        code = int(code_text)
    except ValueError:
        return SendAnswer(Outcome.UNKNOWN, None, "answer without a readable code")
    if code not in CODES:
        return SendAnswer(Outcome.UNKNOWN, code, f"unknown code {code}: {tech_message}")
    meaning, outcome = CODES[code]
    reason = tech_message or meaning
    if outcome is not Outcome.SUBMITTED:
        return SendAnswer(outcome, code, reason)
    wanted = set(phones)
    msg_ids: dict[str, str] = {}
    ignored = 0
    for element in root.iter("msg_id"):
        phone = (element.get("phone") or "").strip()
        msg_id = (element.text or "").strip()
        if phone in wanted and phone not in msg_ids and 0 < len(msg_id) <= MSG_ID_MAX:
            msg_ids[phone] = msg_id
        else:
            ignored += 1
    missing = len(wanted) - len(msg_ids)
    if missing or ignored:
        reason = f"{reason} ({missing} recipient(s) without msg_id, {ignored} msg_id ignored)"
    return SendAnswer(outcome, code, reason, msg_ids)
