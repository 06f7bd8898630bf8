"""The REST API's Lambda: reads the API Gateway event, calls one domain function, shapes the
answer. Decisions live in `domain`; AWS access in messaggio_core.dal (clients made lazily,
so nothing here costs a cold start beyond imports).

Logs carry msg_id, p_transaction_id, the report's type and status: never the token (it is in
the path), a reply's text, or a phone number (the opt-out routes' path carries one: they log
what happened, never the path).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import partial, wraps
from http import HTTPStatus
from typing import TYPE_CHECKING, Annotated, Any, Final

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from messaggio_callbacks.domain import (
    STORAGE,
    Callback,
    Forbidden,
    InvalidPage,
    MalformedId,
    Receipt,
    Unavailable,
    add_opt_out,
    list_opt_outs,
    message_status,
    opt_out_entry,
    receive,
    remove_opt_out,
)
from messaggio_callbacks.settings import CallbacksSettings, settings
from messaggio_core.dal.common import StorageError
from messaggio_core.dal.messages import MessageStore
from messaggio_core.dal.optouts import OptOutStore
from messaggio_core.dal.secrets import CredentialsUnavailable, credentials
from messaggio_core.protocol.optout import Intent, InvalidPhone
from messaggio_core.protocol.reports import InvalidReport, Report
from messaggio_core.protocol.surface import STATUS_PAGE_ITEMS

if TYPE_CHECKING:
    # The routes' query and body parameters and their answers' models are declared for the
    # OpenAPI document only: the resolver runs without validation, the routes read the raw
    # event and answer plain JSON. `describe()` binds these names when the document is made;
    # in a Lambda they stay unbound, so a cold start never loads pydantic (Powertools reads
    # a route's annotations only to look for Request and Depends parameters, and takes one
    # it cannot resolve for neither).
    from aws_lambda_powertools.event_handler.openapi.params import Body, Query

    from messaggio_callbacks.answers import ReportFields

app = APIGatewayRestResolver()
logger = Logger()
metrics = Metrics()

CALLBACK_ROUTE: Final = "/callbacks/<token>"
STATUS_ROUTE: Final = "/messages/<id>"
OPT_OUTS_ROUTE: Final = "/opt-outs"
OPT_OUT_ROUTE: Final = "/opt-outs/<phone>"
SIGV4: Final = "sigv4"  # the OpenAPI security scheme of the IAM-authorised route


# Every answer's model, by name: `describe()` puts the model itself in its place.
_MODEL: Final = "model"
_DESCRIBED: list[dict[str, Any]] = []


def _doc(description: str, model: str) -> dict[str, Any]:
    """A response for the document: `model` names a class of messaggio_callbacks.answers."""
    content = {_MODEL: model}
    _DESCRIBED.append(content)
    return {"description": description, "content": {content_types.APPLICATION_JSON: content}}


_CALLBACK_RESPONSES: Final[dict[int, Any]] = {
    200: _doc("Stored, or already stored.", "StoredAnswer"),
    400: _doc("Not a report; the platform stops retrying.", "ErrorAnswer"),
    403: {
        "description": "Wrong token or source address; nothing stored, no detail.",
        "content": {content_types.TEXT_PLAIN: {"schema": {"type": "string"}}},
    },
    503: _doc("Storage failed; the platform retries.", "ErrorAnswer"),
}
_STATUS_RESPONSES: Final[dict[int, Any]] = {
    200: _doc("The send and its recipients (docs/protocol.md section G).", "StatusView"),
    400: _doc("Not a p_transaction_id, or `next` is not a cursor of ours.", "ErrorAnswer"),
    404: _doc("No such send.", "ErrorAnswer"),
    503: _doc("Storage unavailable; retry.", "ErrorAnswer"),
}


# Every opt-out route's errors (_opt_out_route adds them to the route's own answers).
_OPT_OUT_ERRORS: Final[dict[int, Any]] = {
    400: _doc("Not a phone number (the reason says why).", "ErrorAnswer"),
    503: _doc("Storage unavailable; retry.", "ErrorAnswer"),
}


def _json(status: HTTPStatus, payload: dict[str, Any]) -> Response[str]:
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps(payload, ensure_ascii=False),
        headers={"Cache-Control": "no-store"},
    )


def _store(config: CallbacksSettings) -> MessageStore:
    return MessageStore(config.table, config.retention_days)


def _optouts(config: CallbacksSettings) -> OptOutStore:
    return OptOutStore(config.table)


def _report_keys(report: Report | None) -> dict[str, Any]:
    """What a log line may say about a report (never the reply's text)."""
    if report is None:
        return {}
    return {
        "msg_id": report.msg_id,
        "p_transaction_id": report.p_transaction_id,
        "report_type": report.type.value,
        "status": report.status.value if report.status is not None else None,
        "status_extended": report.status_extended,
    }


def _cause(exc: Exception) -> dict[str, Any]:
    """Why a dependency failed, for the log. The message only of a StorageError (the AWS
    error code) or CredentialsUnavailable (what is wrong with the secret, never its value):
    other messages may quote what was sent (a reply) or the secret."""
    cause = exc.__cause__
    detail = str(cause) if isinstance(cause, StorageError | CredentialsUnavailable) else None
    return {"error": type(cause).__name__, "detail": detail}


def _callback_token(secret_id: str) -> str:
    """Read only once the source address passed (cached by messaggio_core for minutes)."""
    return credentials(secret_id).callback_token.get_secret_value()


def _call(token: str) -> Callback:
    """The callback as received; the event's shape is trusted no further than `.get`."""
    raw: dict[str, Any] = app.current_event.raw_event
    identity = (raw.get("requestContext") or {}).get("identity") or {}
    query = raw.get("multiValueQueryStringParameters") or {
        name: [value] for name, value in (raw.get("queryStringParameters") or {}).items()
    }
    post = app.current_event.http_method == "POST"
    return Callback(
        token=token,
        source_ip=identity.get("sourceIp"),
        query=query,
        body=raw.get("body") if post else None,
        base64=bool(raw.get("isBase64Encoded")),
        content_type=app.current_event.headers.get("content-type") if post else None,
    )


def _callback(token: str) -> Response[str]:
    config = settings()
    call = _call(token)
    try:
        receipt = receive(
            call,
            allowed=config.allowed_cidrs,
            expected_token=partial(_callback_token, config.secret_id),
            store=_store(config),
            optouts=_optouts(config),
            keywords=config.keywords,
        )
    except Forbidden as exc:
        # Which check failed is logged for the operator, never answered to the caller.
        logger.warning("callback forbidden", extra={"check": str(exc), "source_ip": call.source_ip})
        metrics.add_metric(name="CallbackForbidden", unit=MetricUnit.Count, value=1)
        return Response(
            status_code=HTTPStatus.FORBIDDEN,
            content_type=content_types.TEXT_PLAIN,
            body="forbidden",
        )
    except InvalidReport as exc:
        # The reasons are fixed phrases (messaggio_core.protocol.reports), never input.
        logger.info("report rejected", extra={"reason": str(exc)})
        metrics.add_metric(name="ReportRejected", unit=MetricUnit.Count, value=1)
        return _json(HTTPStatus.BAD_REQUEST, {"error": str(exc)})
    except Unavailable as exc:
        if exc.report is not None:
            logger.set_correlation_id(exc.report.p_transaction_id)
        logger.error(
            f"report not stored: {exc.what} unavailable",
            extra={**_report_keys(exc.report), **_cause(exc)},
        )
        name = "CallbackStorageFailed" if exc.what == STORAGE else "CallbackCredentialsFailed"
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)
        return _json(HTTPStatus.SERVICE_UNAVAILABLE, {"error": "unavailable, retry later"})
    logger.set_correlation_id(receipt.report.p_transaction_id)
    logger.info(
        "report stored" if receipt.stored else "report repeated",
        extra=_report_keys(receipt.report),
    )
    name = "ReportStored" if receipt.stored else "ReportDuplicate"
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)
    if receipt.stored:
        _keyword_outcome(receipt)
    return _json(HTTPStatus.OK, {"stored": receipt.stored})


def _keyword_outcome(receipt: Receipt) -> None:
    """A keyword reply stored for the first time: the list changed with it, or (phone
    unknown) it could not, which an operator must settle by hand (PUT /opt-outs/{phone})."""
    keys = _report_keys(receipt.report)
    if receipt.keyword is not None:
        opted_out = receipt.keyword.intent is Intent.OPT_OUT
        logger.info(
            "recipient opted out" if opted_out else "recipient opted in",
            extra={**keys, "keyword": receipt.keyword.keyword},
        )
        name = "OptedOut" if opted_out else "OptedIn"
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)
    elif receipt.unresolved:
        logger.error("keyword reply not applied: the recipient's phone is not known", extra=keys)
        metrics.add_metric(name="OptOutUnresolved", unit=MetricUnit.Count, value=1)


FORM: Final = "application/x-www-form-urlencoded"
NO_FIELDS: Final[Any] = None  # the resolver (no validation) passes only the path


@app.get(
    CALLBACK_ROUTE,
    summary="A delivery, seen or reply report, in the query string",
    description="The platform's report callback (docs/protocol.md section E). Open on purpose, "
    "guarded by the token in the path and the source-address allow-list.",
    responses=_CALLBACK_RESPONSES,
    tags=["callbacks"],
    operation_id="callbackGet",
)
def callback_get(token: str, report: Annotated[ReportFields, Query()] = NO_FIELDS) -> Response[str]:
    return _callback(token)


@app.post(
    CALLBACK_ROUTE,
    summary="A delivery, seen or reply report, as a form body",
    description="As the GET, with the fields form-encoded in the body. A JSON object of the "
    "same fields (Content-Type: application/json) is read too.",
    responses=_CALLBACK_RESPONSES,
    tags=["callbacks"],
    operation_id="callbackPost",
)
def callback_post(
    token: str, report: Annotated[ReportFields, Body(media_type=FORM)] = NO_FIELDS
) -> Response[str]:
    return _callback(token)


@app.get(
    STATUS_ROUTE,
    summary="The status of one send",
    description="`id` is the send's p_transaction_id (or the SQS messageId it fell back to). "
    f"IAM-authorised (SigV4). One answer carries at most {STATUS_PAGE_ITEMS} report and reply "
    "items; while `next` is not null, GET again with `?next=<next>` for the rest.",
    responses=_STATUS_RESPONSES,
    tags=["status"],
    operation_id="messageStatus",
    security=[{SIGV4: []}],
)
def status(
    id: str,  # the route's name in docs/protocol.md section G
    next: Annotated[  # the query's name
        str | None,
        Query(description="The previous answer's `next`, for the following page."),
    ] = None,
) -> Response[str]:
    # Declared above for the OpenAPI document; the resolver (no validation) passes only the
    # path, so the query string is read from the event.
    page = app.current_event.get_query_string_value("next")
    try:
        view = message_status(id, _store(settings()), page)
    except MalformedId as exc:
        metrics.add_metric(name="StatusRejected", unit=MetricUnit.Count, value=1)
        return _json(HTTPStatus.BAD_REQUEST, {"error": str(exc)})
    except Unavailable as exc:
        logger.error("status not read: storage unavailable", extra=_cause(exc))
        metrics.add_metric(name="StatusStorageFailed", unit=MetricUnit.Count, value=1)
        return _json(HTTPStatus.SERVICE_UNAVAILABLE, {"error": "unavailable, retry later"})
    logger.set_correlation_id(id)
    metrics.add_metric(name="StatusQueried", unit=MetricUnit.Count, value=1)
    if view is None:
        return _json(HTTPStatus.NOT_FOUND, {"error": "not found"})
    return _json(HTTPStatus.OK, view)


def _caller() -> str | None:
    """The IAM identity that signed the request (API Gateway's requestContext)."""
    raw: dict[str, Any] = app.current_event.raw_event
    identity = (raw.get("requestContext") or {}).get("identity") or {}
    arn = identity.get("userArn")
    return str(arn) if arn else None


type Route = Callable[..., Response[str]]


def _opt_out_route(
    method: str, rule: str, action: str, responses: dict[int, Any], **doc: Any
) -> Callable[[Route], Route]:
    """Registers an opt-out route: IAM-authorised (SigV4); a bad phone or page is 400,
    storage 503. The log names the route's action, never the phone."""
    errors = {code: doc for code, doc in _OPT_OUT_ERRORS.items() if code not in responses}
    answers = responses | errors  # the route's own first, as the document lists them

    def register(route: Route) -> Route:
        @wraps(route)  # the resolver and the OpenAPI document read the route's signature
        def guarded(*args: Any, **kwargs: Any) -> Response[str]:
            try:
                return route(*args, **kwargs)
            except (InvalidPhone, InvalidPage) as exc:
                # The reasons are fixed phrases (protocol.optout, domain), never the input.
                logger.info(
                    "opt-out request rejected", extra={"action": action, "reason": str(exc)}
                )
                metrics.add_metric(name="OptOutRequestRejected", unit=MetricUnit.Count, value=1)
                return _json(HTTPStatus.BAD_REQUEST, {"error": str(exc)})
            except Unavailable as exc:
                logger.error(
                    "opt-out list not reached: storage unavailable",
                    extra={"action": action, **_cause(exc)},
                )
                metrics.add_metric(name="OptOutStorageFailed", unit=MetricUnit.Count, value=1)
                return _json(HTTPStatus.SERVICE_UNAVAILABLE, {"error": "unavailable, retry later"})

        security: list[dict[str, list[str]]] = [{SIGV4: []}]
        app.route(rule, method, responses=answers, tags=["opt-outs"], security=security, **doc)(
            guarded
        )
        return guarded

    return register


@_opt_out_route(
    "GET",
    OPT_OUT_ROUTE,
    "get",
    summary="Whether one phone is on the opt-out list",
    description="`phone`: digits, optionally after a `+` (%2B). IAM-authorised (SigV4).",
    responses={
        200: _doc("The phone's entry.", "OptOutView"),
        404: _doc("Not on the list.", "ErrorAnswer"),
    },
    operation_id="optOutGet",
)
def opt_out_get(phone: str) -> Response[str]:
    found = opt_out_entry(phone, _optouts(settings()))
    metrics.add_metric(name="OptOutQueried", unit=MetricUnit.Count, value=1)
    if found is None:
        return _json(HTTPStatus.NOT_FOUND, {"error": "not on the opt-out list"})
    return _json(HTTPStatus.OK, found)


@_opt_out_route(
    "PUT",
    OPT_OUT_ROUTE,
    "put",
    summary="Put one phone on the opt-out list",
    description="For a CRM or an import: no later send reaches the phone. A phone already on "
    "the list keeps its entry (200). IAM-authorised (SigV4).",
    responses={
        200: _doc("Already on the list; its entry, unchanged.", "OptOutView"),
        201: _doc("Added.", "OptOutView"),
    },
    operation_id="optOutPut",
)
def opt_out_put(phone: str) -> Response[str]:
    entry, created = add_opt_out(phone, _caller(), _optouts(settings()))
    if created:
        logger.info("recipient opted out", extra={"source": "api"})
    metrics.add_metric(
        name="OptedOut" if created else "OptOutUnchanged", unit=MetricUnit.Count, value=1
    )
    return _json(HTTPStatus.CREATED if created else HTTPStatus.OK, entry)


@_opt_out_route(
    "DELETE",
    OPT_OUT_ROUTE,
    "delete",
    summary="Take one phone off the opt-out list",
    description="Later sends reach the phone again. IAM-authorised (SigV4).",
    responses={
        204: {"description": "Taken off the list."},
        404: _doc("Not on the list.", "ErrorAnswer"),
    },
    operation_id="optOutDelete",
)
def opt_out_delete(phone: str) -> Response[str]:
    if not remove_opt_out(phone, _optouts(settings())):
        metrics.add_metric(name="OptOutUnchanged", unit=MetricUnit.Count, value=1)
        return _json(HTTPStatus.NOT_FOUND, {"error": "not on the opt-out list"})
    logger.info("recipient opted in", extra={"source": "api"})
    metrics.add_metric(name="OptedIn", unit=MetricUnit.Count, value=1)
    return Response(
        status_code=HTTPStatus.NO_CONTENT, body="", headers={"Cache-Control": "no-store"}
    )


@_opt_out_route(
    "GET",
    OPT_OUTS_ROUTE,
    "list",
    summary="The opt-out list, one page at a time (export)",
    description="In phone order. While more remain, the answer's `next` is a token: "
    "`GET /opt-outs?next=<token>` returns the following page. `limit`: 1 to 1000 (100). "
    "IAM-authorised (SigV4).",
    responses={
        200: _doc("One page.", "OptOutPage"),
        400: _doc("`next` or `limit` unusable.", "ErrorAnswer"),
    },
    operation_id="optOutList",
)
def opt_out_list(
    next: Annotated[  # the query's names
        str | None, Query(description="The previous page's `next`, for the following page.")
    ] = None,
    limit: Annotated[
        str | None, Query(description="Entries a page, 1 to 1000 (default 100).")
    ] = None,
) -> Response[str]:
    # Declared above for the OpenAPI document; read from the event (as the status route does).
    event = app.current_event
    page = list_opt_outs(
        event.get_query_string_value("next"),
        event.get_query_string_value("limit"),
        _optouts(settings()),
    )
    metrics.add_metric(name="OptOutsListed", unit=MetricUnit.Count, value=1)
    return _json(HTTPStatus.OK, page)


def _not_found(exc: NotFoundError) -> Response[str]:
    """Without this, the catch-all below would answer an unknown path 500."""
    metrics.add_metric(name="RouteNotFound", unit=MetricUnit.Count, value=1)  # scanners
    return _json(HTTPStatus.NOT_FOUND, {"error": "not found"})


def _unexpected(exc: Exception) -> Response[str]:
    """A bug or a broken configuration: 500 (the platform retries), details in the log only."""
    logger.exception("unexpected error")
    metrics.add_metric(name="CallbackUnexpectedError", unit=MetricUnit.Count, value=1)
    return _json(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": "internal error"})


def describe() -> APIGatewayRestResolver:
    """The resolver with the document's models bound (messaggio_local.openapi): the names
    declared under TYPE_CHECKING above, and each answer's model in place of its name."""
    # PLC0415: on purpose, here only: they load pydantic.
    from aws_lambda_powertools.event_handler.openapi import params  # noqa: PLC0415

    from messaggio_callbacks import answers  # noqa: PLC0415

    globals().update(Body=params.Body, Query=params.Query, ReportFields=answers.ReportFields)
    for content in _DESCRIBED:
        if isinstance(content[_MODEL], str):
            content[_MODEL] = getattr(answers, content[_MODEL])
    return app


# Registered by call, not as decorators: Powertools' decorators are untyped (strict mypy).
app.not_found(_not_found)
app.exception_handler(Exception)(_unexpected)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
