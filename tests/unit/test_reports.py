"""Section E: reports parsed into one model; statuses and their ranks."""

from __future__ import annotations

import itertools
from urllib.parse import parse_qs

import pytest
from hypothesis import given
from hypothesis import strategies as st

from messaggio_core.protocol.reports import (
    RANK,
    InvalidReport,
    Report,
    ReportType,
    Status,
    highest,
    parse_report,
)

IDS = "msg_id=550e8400-e29b-41d4-a716-446655440000&p_transaction_id=order-1042"


def parse(query: str) -> Report:
    return parse_report(parse_qs(query, keep_blank_values=True))


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("0", Status.DELIVERED),
        ("-1", Status.UNDELIVERED),
        ("-2", Status.EXPIRED),
        ("-3", Status.REJECTED),
    ],
)
def test_standard_report(status: str, expected: Status) -> None:
    report = parse(f"{IDS}&status={status}")
    assert report.type is ReportType.DELIVERY and report.status is expected
    assert report.p_transaction_id == "order-1042"


def test_extended_reports() -> None:
    delivery = parse(f"{IDS}&type=delivery&status=undelivered&status_extended=VIBER_NO_DEVICE")
    assert (delivery.status, delivery.status_extended) == (Status.UNDELIVERED, "VIBER_NO_DEVICE")
    assert parse(f"{IDS}&type=delivery&status=buffered").status is Status.BUFFERED
    assert parse(f"{IDS}&type=seen").status is Status.SEEN
    reply = parse(f"{IDS}&type=reply&text=%D0%94%D1%8F%D0%BA%D1%83%D1%8E")
    assert reply.type is ReportType.REPLY and reply.text == "Дякую" and reply.status is None


def test_unknown_extra_fields_are_ignored() -> None:
    assert parse(f"{IDS}&status=0&timestamp=123").status is Status.DELIVERED


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("p_transaction_id=x&status=0", "missing msg_id"),
        ("msg_id=a&status=0", "missing p_transaction_id"),
        (f"{IDS}", "missing status"),
        (f"{IDS}&status=1", "unknown status"),
        (f"{IDS}&type=delivery&status=read", "unknown status"),
        (f"{IDS}&type=delivery&status=undelivered&status_extended=NOPE", "status_extended"),
        (f"{IDS}&type=click", "unknown type"),
        (f"{IDS}&type=reply", "missing text"),
        (f"{IDS}&status=0&status=-1", "more than once"),
        ("msg_id=a%20b&p_transaction_id=x&status=0", "malformed msg_id"),
        (f"{IDS}&type=reply&text=" + "x" * 4097, "too long"),
    ],
)
def test_malformed_reports(query: str, reason: str) -> None:
    with pytest.raises(InvalidReport, match=reason):
        parse(query)


def test_ranks_and_highest() -> None:
    assert RANK[Status.SEEN] > RANK[Status.DELIVERED] > RANK[Status.UNDELIVERED]
    assert RANK[Status.UNDELIVERED] > RANK[Status.BUFFERED] > RANK[Status.SUBMITTED]
    assert highest([]) is Status.SUBMITTED
    # a Viber failure followed by the SMS fallback's delivery ends delivered
    assert highest([Status.UNDELIVERED, Status.DELIVERED]) is Status.DELIVERED
    assert highest([Status.SEEN, Status.DELIVERED]) is Status.SEEN


def test_highest_ignores_order_even_between_equal_ranks() -> None:
    statuses = [Status.UNDELIVERED, Status.EXPIRED, Status.REJECTED, Status.BUFFERED]
    results = {highest(p) for p in itertools.permutations(statuses)}
    assert len(results) == 1


@given(
    st.dictionaries(
        st.sampled_from(
            ["msg_id", "p_transaction_id", "type", "status", "status_extended", "text", "x"]
        ),
        st.lists(st.text(max_size=20), max_size=3),
    )
)
def test_any_fields_give_a_report_or_invalid_report(fields: dict[str, list[str]]) -> None:
    try:
        parse_report(fields)
    except InvalidReport as exc:
        assert str(exc)
