"""One send request, from queue body to recorded outcome: the sender's domain logic.

Exactly once to the platform: the send's own record is claimed by a conditional write just
before the call; a copy that finds it claimed or finished never calls the platform. An
answer that was lost is recorded `unknown` and never re-sent blindly; reports (which carry
`p_transaction_id`) settle each recipient later.

A record on its last allowed delivery (`final`: SQS moves it to the dead-letter queue if it
fails again) that would be retried is recorded `failed`, not `pending`, and still fails, so
the status does not promise a retry that will not come; a redrive claims it again.

Never to a phone on the opt-out list: the batch's phones are looked up once, when its first
send reaches the claim (`Suppression`), so a STOP stored while a send waited in the queue is
honoured; the suppressed recipients are recorded on the claim and not sent.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Executor
from dataclasses import dataclass, replace
from typing import Final, Protocol

from messaggio_core.client import PlatformClient
from messaggio_core.dal.messages import BY_CONNECTOR, BY_PLATFORM, Claimed, MessageStore, SendMeta
from messaggio_core.dal.optouts import OptOutStore
from messaggio_core.dal.secrets import Credentials
from messaggio_core.failures import RecordFailed
from messaggio_core.images import ImageResolution
from messaggio_core.pacing import Pacer
from messaggio_core.protocol.answer import Outcome, SendAnswer
from messaggio_core.protocol.ids import S3Ref
from messaggio_core.protocol.optout import OPTED_OUT, InvalidPhone, normalise_phone
from messaggio_core.protocol.send import (
    MAX_RECIPIENTS,
    InvalidSendRequest,
    Message,
    parse_message,
    redact,
)
from messaggio_core.protocol.surface import Kind, State


@dataclass(frozen=True, slots=True)
class Done:
    """What became of one record; the handler turns it into a metric and a batch answer."""

    outcome: Outcome
    p_transaction_id: str
    reason: str | None = None
    kind: Kind | None = None
    recipients: int = 0
    warnings: tuple[str, ...] = ()
    failed: bool = False  # retried on its last allowed delivery: recorded `failed`
    suppressed: int = 0  # recipients not sent: on the opt-out list


class ImageResolver(Protocol):
    def resolve(self, ref: S3Ref) -> ImageResolution: ...


@dataclass(frozen=True, slots=True)
class Deps:
    store: MessageStore
    optouts: OptOutStore
    client: PlatformClient
    pacer: Pacer
    images: ImageResolver
    credentials: Callable[[], Credentials]
    executor: Executor
    claim_stale_after: float
    # Seconds a platform call may take (connect + read timeouts): a send is claimed only
    # when that much time is left, so a foreseeable Lambda timeout never cuts a call short.
    request_budget: float = 0.5
    clock: Callable[[], float] = time.time


# [ours] a refused body's recipients are shown as it named them, each cut to this length.
PHONE_SHOWN_MAX: Final = 32


class Suppression:
    """One batch's opt-out check: every phone of the batch in one read (BatchGetItem), made
    when the batch's first send reaches its claim and shared by the others. A failed read
    is not repeated for each send: they all wait for a later delivery."""

    def __init__(self, phones: frozenset[str]) -> None:
        self._phones = phones
        self._lock = asyncio.Lock()
        self._listed: frozenset[str] | None = None
        self._failed: Exception | None = None

    async def among(self, deps: Deps, recipients: list[str]) -> tuple[str, ...]:
        """The recipients on the list (raises when the list could not be read)."""
        async with self._lock:
            if self._listed is None and self._failed is None:
                wanted = self._phones | _phones(recipients)
                try:
                    self._listed = await _run(deps, deps.optouts.suppressed, wanted)
                except Exception as exc:
                    self._failed = exc
        if self._failed is not None:
            raise self._failed
        assert self._listed is not None
        listed = self._listed
        return tuple(p for p in recipients if _phones([p]) & listed)


def batch_phones(bodies: Iterable[str]) -> frozenset[str]:
    """Every recipient named by a batch's queue bodies (broken ones contribute what they
    can: they are rejected later, and never sent)."""
    found: set[str] = set()
    for body in bodies:
        try:
            data = json.loads(body)
        except (ValueError, TypeError, RecursionError):  # a poison body: rejected later
            continue
        phones = data.get("phone") if isinstance(data, dict) else None
        if isinstance(phones, list):
            found |= _phones(p for p in phones if isinstance(p, str))
    return frozenset(found)


def _phones(raw: Iterable[str]) -> frozenset[str]:
    """As the list keys them (digits); what is not a phone is dropped."""
    out: set[str] = set()
    for phone in raw:
        try:
            out.add(normalise_phone(phone))
        except InvalidPhone:
            continue
    return frozenset(out)


async def send(
    body: str,
    message_id: str,
    deps: Deps,
    deadline: float,
    suppression: Suppression,
    *,
    final: bool = False,
) -> Done:
    """Takes one queue body through validation, image, opt-out check, claim, pacing, submit,
    record.

    `deadline` (time.monotonic) is when the invocation must stop starting new sends, so a
    claim is never left behind by a Lambda timeout that could have been foreseen. `final`:
    this is the record's last allowed delivery.
    """
    try:
        message = parse_message(body, fallback_id=message_id)
    except InvalidSendRequest as exc:
        # The reasons name fields, never their values (protocol.send), so nothing to redact.
        ptid, reason = exc.p_transaction_id, str(exc)
        phones = _refused_phones(body)
        try:
            await _run(deps, deps.store.reject_unsendable, ptid, message_id, reason, phones)
        except Exception as failure:
            raise RecordFailed(p_transaction_id=ptid) from failure
        return Done(Outcome.REJECTED, ptid, reason, recipients=len(phones))

    try:
        return await _send(message, message_id, deps, deadline, suppression, final)
    except Exception as exc:
        # Unexpected (a bug, a store refusing a call): the handler logs it with this id.
        raise RecordFailed(p_transaction_id=message.p_transaction_id) from exc


async def _send(
    message: Message,
    message_id: str,
    deps: Deps,
    deadline: float,
    suppression: Suppression,
    final: bool,
) -> Done:
    ptid = message.p_transaction_id
    image_id: str | None = None
    if message.image is not None:
        resolution = await _run(deps, deps.images.resolve, message.image)
        if resolution.unavailable is not None:
            return await _not_now(
                deps, message, message_id, f"image: {resolution.unavailable}", final
            )
        if resolution.refused is not None:
            return await _refuse(deps, message, message_id, f"image: {resolution.refused}")
        image_id = resolution.image_id

    if time.monotonic() + deps.request_budget >= deadline:
        return await _not_now(deps, message, message_id, "no time left in this invocation", final)
    try:
        opted_out = await suppression.among(deps, message.recipients)
    except Exception:
        return await _not_now(
            deps, message, message_id, "the opt-out list could not be read", final
        )
    if len(opted_out) == len(message.recipients):
        # Refused by the connector (rejected_by): the same id claimed again is checked
        # against the list again, and sent if the recipient has opted back in.
        return await _refuse(deps, message, message_id, OPTED_OUT, opted_out)
    claim = await _claim(deps, message, message_id, opted_out)
    if not isinstance(claim, Claimed):
        return claim
    if opted_out:  # the others are sent: the request names only them
        kept = [p for p in message.recipients if p not in opted_out]
        message = replace(message, body=message.body.model_copy(update={"phone": kept}))
    creds = deps.credentials()
    form = message.form(creds.login, creds.secret_key.get_secret_value(), image_id)
    answer = await _run(deps, _paced_submit, deps, form, message.recipients, deadline)
    if answer is None:
        # The rate left no slot in time: nothing was sent, so the claim is handed back.
        reason = "no time left in this invocation within the rate limit"
        state = settled_state(Outcome.RETRIED, final)
        await _run(deps, deps.store.settle, ptid, claim.claim, state, reason)
        return _done(message, Outcome.RETRIED, reason, failed=final)
    reason = redact(answer.reason)
    outcome = answer.outcome
    state = settled_state(outcome, final)
    await _run(
        deps,
        lambda: deps.store.settle(
            ptid,
            claim.claim,
            state,
            None if outcome is Outcome.SUBMITTED and not _incomplete(answer.reason) else reason,
            msg_ids=answer.msg_ids,
            phones=tuple(message.recipients),
            rejected_by=BY_PLATFORM if state is State.REJECTED else None,
        ),
    )
    return _done(message, outcome, reason, failed=state is State.FAILED, suppressed=len(opted_out))


def settled_state(outcome: Outcome, final: bool) -> State:
    """[ours] The state a send is settled in after the platform's answer: retried ones are
    `pending`, unless this was the last allowed delivery: then `failed` (dead-lettered)."""
    if outcome.retried:
        return State.FAILED if final else State.PENDING
    return {
        Outcome.SUBMITTED: State.SUBMITTED,
        Outcome.REJECTED: State.REJECTED,
        Outcome.UNKNOWN: State.UNKNOWN,
    }[outcome]


async def _not_now(deps: Deps, message: Message, source_id: str, reason: str, final: bool) -> Done:
    """Nothing was sent and it may work later. On the last allowed delivery the send is
    claimed (the same guard as a send) only to be recorded `failed` with the reason."""
    if not final:
        return _done(message, Outcome.RETRIED, reason)
    claim = await _claim(deps, message, source_id)
    if not isinstance(claim, Claimed):
        return claim
    await _run(deps, deps.store.settle, message.p_transaction_id, claim.claim, State.FAILED, reason)
    return _done(message, Outcome.RETRIED, reason, failed=True)


async def _claim(
    deps: Deps, message: Message, source_id: str, opted_out: tuple[str, ...] = ()
) -> Claimed | Done:
    ptid = message.p_transaction_id
    meta = SendMeta(
        kind=message.kind,
        sending_method=message.body.sending_method,
        phones=tuple(message.recipients),
        sms_parts=message.sms.parts if message.sms is not None else None,
        source_id=source_id,
        warnings=message.warnings,
        opted_out=opted_out,
    )
    taken = await _run(deps, deps.store.claim, ptid, secrets.token_hex(8), meta)
    if isinstance(taken, Claimed):
        return taken
    if taken.state != State.SENDING:
        return _done(message, Outcome.DUPLICATE, f"already {taken.state}")
    age = deps.clock() - (taken.claimed_at or 0.0)
    if age < deps.claim_stale_after or taken.claim is None:
        return _done(message, Outcome.IN_FLIGHT, "another invocation is sending it")
    reason = "the invocation sending it stopped before the answer arrived"
    await _run(deps, deps.store.give_up_stale, ptid, taken.claim, reason)
    return _done(message, Outcome.UNKNOWN, reason)


async def _refuse(
    deps: Deps, message: Message, source_id: str, reason: str, opted_out: tuple[str, ...] = ()
) -> Done:
    """Records a permanent refusal through the same claim, so it cannot overwrite a send."""
    claim = await _claim(deps, message, source_id, opted_out)
    if not isinstance(claim, Claimed):
        return claim
    await _run(
        deps,
        lambda: deps.store.settle(
            message.p_transaction_id, claim.claim, State.REJECTED, reason, rejected_by=BY_CONNECTOR
        ),
    )
    return _done(message, Outcome.REJECTED, reason, suppressed=len(opted_out))


def _done(
    message: Message,
    outcome: Outcome,
    reason: str | None,
    *,
    failed: bool = False,
    suppressed: int = 0,
) -> Done:
    return Done(
        outcome,
        message.p_transaction_id,
        reason,
        kind=message.kind,
        recipients=len(message.recipients),
        warnings=message.warnings,
        failed=failed,
        suppressed=suppressed,
    )


def _paced_submit(
    deps: Deps, form: list[tuple[str, bytes]], phones: list[str], deadline: float
) -> SendAnswer | None:
    """Waits for the rate, then calls the platform, in the same thread and back to back, so
    what leaves here is exactly what the pacer let through. None: no slot in time."""
    if not deps.pacer.take_before(len(phones), deadline - deps.request_budget):
        return None
    return deps.client.submit(form, phones)


def _incomplete(reason: str) -> bool:
    return "without msg_id" in reason


def _refused_phones(body: str) -> tuple[str, ...]:
    """The recipients a refused body named, when they can be read (a list of strings, up to
    the recipient limit), so every rejection lists its recipients alike."""
    try:
        data = json.loads(body)
    except (ValueError, TypeError, RecursionError):
        return ()
    phones = data.get("phone") if isinstance(data, dict) else None
    if not isinstance(phones, list) or not all(isinstance(p, str) for p in phones):
        return ()
    return tuple(p[:PHONE_SHOWN_MAX] for p in phones[:MAX_RECIPIENTS])


async def _run[T](deps: Deps, fn: Callable[..., T], *args: object) -> T:
    """Blocking I/O (boto3, requests) off the event loop, on the shared thread pool."""
    return await asyncio.get_running_loop().run_in_executor(deps.executor, fn, *args)
