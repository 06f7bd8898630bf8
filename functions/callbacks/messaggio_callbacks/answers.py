"""The REST API's answers and a report's fields as pydantic models: the OpenAPI document's
(functions/callbacks/openapi.json, built by `handler.describe()`) and the tests'.

Never imported in a Lambda: the routes answer with plain JSON and read the raw event, so a
cold start does not load pydantic (README: "Cold start").
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from messaggio_core.protocol.optout import OPTED_OUT
from messaggio_core.protocol.reports import Status
from messaggio_core.protocol.surface import STATUS_PAGE_ITEMS, Kind, State


class Doc(BaseModel):
    """Built on first use (the document, a test), not when the module is imported."""

    model_config = ConfigDict(defer_build=True)


class StoredAnswer(Doc):
    """200 to the platform: false when the report was already stored (a repeat)."""

    stored: bool


class ErrorAnswer(Doc):
    error: str


class ReplyView(Doc):
    text: str
    received_at: str


class RecipientView(Doc):
    phone: str | None
    msg_id: str | None
    status: Status | Literal["opted_out"] | None = Field(
        description=f"`{OPTED_OUT}`: on the opt-out list when claimed, never sent (no msg_id)"
    )
    status_extended: str | None
    reported: dict[Status, str] = Field(
        default_factory=dict,
        description="each status reported, by rank, -> when it was known to be reached: "
        "its first report, or an earlier report of a later status",
    )
    replies: list[ReplyView]


class StatusView(Doc):
    """Section G's answer (messaggio_core.records.status_view); the docs and the tests."""

    p_transaction_id: str
    state: State
    reason: str | None
    kind: Kind | None
    sms_parts: int | None
    attempts: int
    created_at: str | None
    updated_at: str | None = Field(description="when anything about the send last changed")
    warnings: list[str] = Field(description="what the connector dropped or adjusted")
    recipients: list[RecipientView] = Field(
        description=f"At most {STATUS_PAGE_ITEMS} report and reply items an answer: a "
        "recipient may continue in the next answer (merge by msg_id)."
    )
    next: str | None = Field(
        description="Where the following answer starts: GET again with ?next=<this> until "
        "it is null."
    )


class OptOutView(Doc):
    """One phone on the opt-out list (messaggio_core.records.OptOutEntry)."""

    phone: str
    opted_out_at: str
    source: Literal["keyword", "api"]
    keyword: str | None = Field(description="the keyword replied (as configured)")
    p_transaction_id: str | None = Field(description="the send the reply answered")
    msg_id: str | None
    caller: str | None = Field(description="the IAM identity that called PUT")


class OptOutPage(Doc):
    opt_outs: list[OptOutView]
    next: str | None = Field(description="pass as ?next= for the following page; null at the end")


class ReportFields(BaseModel):
    """A report's fields (docs/protocol.md section E), for the OpenAPI document only: the
    routes read them from the raw event (messaggio_core.protocol.reports checks them)."""

    msg_id: str | None = Field(
        None, description="the platform's id of the message to one recipient"
    )
    p_transaction_id: str | None = Field(
        None, description="the send's p_transaction_id, echoed back"
    )
    type: str | None = Field(
        None, description="delivery, seen or reply; absent for a standard (SMS) report"
    )
    status: str | None = Field(
        None, description="delivery: delivered, undelivered or buffered; standard: 0, -1, -2 or -3"
    )
    status_extended: str | None = Field(
        None, description="why a Viber message was not delivered (VIBER_USER_NOT_FOUND, ...)"
    )
    text: str | None = Field(None, description="a reply's text")
