"""The opt-out routes (GET/PUT/DELETE /opt-outs/{phone}, GET /opt-outs) through the handler,
with the committed events/opt_out*.json files."""

from __future__ import annotations

import boto3
import pytest

from messaggio_callbacks.answers import OptOutPage, OptOutView
from tests.callbacks.conftest import PHONE, Api, opt_out_event
from tests.conftest import TABLE, load_event

CALLER = "arn:aws:iam::123456789012:user/crm-sync"  # the committed events' signer


def test_put_adds_then_keeps_the_entry(api: Api) -> None:
    created = api.invoke(load_event("opt_out_put.json"))

    assert created.status == 201
    entry = created.json()
    OptOutView.model_validate(entry)
    assert (entry["phone"], entry["source"], entry["caller"], entry["keyword"]) == (
        PHONE,
        "api",
        CALLER,
        None,
    )

    again = api.invoke(load_event("opt_out_put.json"))
    assert (again.status, again.json()) == (200, entry)  # unchanged: the first entry stands
    assert api.metric_names().count("OptedOut") == 1


def test_get_answers_the_entry_or_404(api: Api) -> None:
    missing = api.invoke(load_event("opt_out_get.json"))
    assert (missing.status, missing.json()) == (404, {"error": "not on the opt-out list"})

    entry = api.invoke(load_event("opt_out_put.json")).json()
    found = api.invoke(load_event("opt_out_get.json"))

    assert (found.status, found.json()) == (200, entry)
    assert found.headers["Cache-Control"] == "no-store"


def test_delete_takes_the_phone_off_once(api: Api) -> None:
    api.invoke(load_event("opt_out_put.json"))

    removed = api.invoke(load_event("opt_out_delete.json"))
    assert (removed.status, removed.body) == (204, "")
    assert api.invoke(load_event("opt_out_get.json")).status == 404

    again = api.invoke(load_event("opt_out_delete.json"))
    assert (again.status, again.json()) == (404, {"error": "not on the opt-out list"})
    assert api.metric_names().count("OptedIn") == 1


@pytest.mark.parametrize("written", ["+380501234567", "%2B380501234567", " 380501234567"])
def test_a_leading_plus_names_the_same_phone(api: Api, written: str) -> None:
    api.invoke(opt_out_event("PUT", PHONE))
    found = api.invoke(opt_out_event("GET", written))
    assert (found.status, found.json()["phone"]) == (200, PHONE)


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
@pytest.mark.parametrize(
    "phone", ["12345", "1234567890123456", "38050-123-45-67", "abc", "++380501234567"]
)
def test_a_phone_that_is_not_a_phone_is_400_with_the_reason(
    api: Api, method: str, phone: str
) -> None:
    answer = api.invoke(opt_out_event(method, phone))
    assert answer.status == 400
    assert answer.json() == {"error": "phone: must be 7 to 15 digits, optionally after one '+'"}
    assert boto3.client("dynamodb").scan(TableName=TABLE)["Items"] == []


def test_the_list_is_paged_with_an_opaque_token(api: Api) -> None:
    phones = [f"3805000000{i:02d}" for i in range(7)]
    for phone in reversed(phones):
        assert api.invoke(opt_out_event("PUT", phone)).status == 201

    seen: list[str] = []
    tokens: list[str] = []
    query = {"limit": "3"}
    while True:
        answer = api.invoke(opt_out_event("GET", None, query))
        assert answer.status == 200
        page = answer.json()
        OptOutPage.model_validate(page)
        assert len(page["opt_outs"]) <= 3
        seen += [entry["phone"] for entry in page["opt_outs"]]
        if page["next"] is None:
            break
        assert not any(phone in page["next"] for phone in phones)  # opaque, not the phone
        tokens.append(page["next"])
        query = {"limit": "3", "next": page["next"]}

    assert seen == phones  # every entry once, in phone order
    assert len(tokens) == 2  # 3 + 3 + 1: no empty last page


def test_the_committed_list_event_and_the_default_page(api: Api) -> None:
    assert api.invoke(load_event("opt_outs_list.json")).json() == {"opt_outs": [], "next": None}
    api.invoke(load_event("opt_out_put.json"))
    page = api.invoke(opt_out_event("GET", None)).json()
    assert [e["phone"] for e in page["opt_outs"]] == [PHONE] and page["next"] is None


@pytest.mark.parametrize(
    ("query", "error"),
    [
        ({"next": "not-a-token"}, "next: not a token this API issued"),
        ({"next": "djE6YWJj"}, "next: not a token this API issued"),  # "v1:abc"
        ({"next": "MzgwNTAxMjM0NTY3"}, "next: not a token this API issued"),  # no version
        ({"limit": "0"}, "limit: must be a whole number from 1 to 1000"),
        ({"limit": "1001"}, "limit: must be a whole number from 1 to 1000"),
        ({"limit": "ten"}, "limit: must be a whole number from 1 to 1000"),
        ({"limit": "³"}, "limit: must be a whole number from 1 to 1000"),  # a digit, not 0-9
    ],
)
def test_an_unusable_page_request_is_400(api: Api, query: dict[str, str], error: str) -> None:
    answer = api.invoke(opt_out_event("GET", None, query))
    assert (answer.status, answer.json()) == (400, {"error": error})


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_storage_down_is_503(api: Api, method: str) -> None:
    boto3.client("dynamodb").delete_table(TableName=TABLE)
    answer = api.invoke(opt_out_event(method))
    assert (answer.status, answer.json()) == (503, {"error": "unavailable, retry later"})
    assert "OptOutStorageFailed" in api.metric_names()


def test_storage_down_on_the_list_is_503(api: Api) -> None:
    boto3.client("dynamodb").delete_table(TableName=TABLE)
    assert api.invoke(opt_out_event("GET", None)).status == 503


def test_the_routes_never_log_the_phone(api: Api) -> None:
    for name in (
        "opt_out_put.json",
        "opt_out_get.json",
        "opt_out_delete.json",
        "opt_out_delete.json",
    ):
        api.invoke(load_event(name))
    api.invoke(opt_out_event("PUT", "+" + PHONE))
    api.invoke(opt_out_event("GET", PHONE + "x"))  # 400
    api.invoke(opt_out_event("GET", None))
    boto3.client("dynamodb").delete_table(TableName=TABLE)
    api.invoke(opt_out_event("PUT", PHONE))  # 503

    logs = api.logs.getvalue()
    assert "opt-out request rejected" in logs and "storage unavailable" in logs  # the control
    assert PHONE not in api.output()
