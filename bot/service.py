"""The one path every surface shares: request → confirm → submit → track.

The Slack handlers and the console demo both call this; neither knows how the other talks.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from bot import grammar, text
from bot.api import ApiError, ZequenzeClient
from bot.backoff import Backoff
from bot.catalog import DEFAULT_CATALOG, Catalog
from bot.failpoints import failpoint
from bot.model import (
    HelpQuery,
    ListQuery,
    OperationSpec,
    Plan,
    Refusal,
    StatusQuery,
    format_api_time,
    parse_api_time,
)
from bot.ports import CannotPost, Notifier
from store import OperationRecord, RequestRecord, Store

log = logging.getLogger(__name__)

REQUEST_TTL = timedelta(minutes=15)
# A time that passed while the request waited for its click is still honoured within this grace;
# later than that, the person is asked again rather than the bot running it at a surprise hour.
LATE_CONFIRM_GRACE = timedelta(minutes=2)
LIST_PAGE = 20  # operations on one page of `/ops list`
DEVICE_SEARCH = 1000  # `/ops list <device>` looks among this many of the newest operations
DEVICE_SEARCH_PAGE = 100
# How far the API's clock may be behind ours: an operation created right after the confirm may
# carry a `created_at` this much earlier.
CLOCK_SKEW = timedelta(minutes=5)
_LIST_KEY = "list"  # reconciling backs off on one thing only: reading the API's list


@dataclass(frozen=True, kw_only=True)
class Tuning:
    """Timings of recovery; the defaults suit production, tests shorten them."""

    reconcile_delay: timedelta = timedelta(seconds=10)  # let a slow POST land before listing
    stale_send: timedelta = timedelta(minutes=10)  # never send an operation this far past due
    max_send_attempts: int = 5
    send_backoff: float = 5.0  # seconds before the first retry of a POST that surely failed
    # While the API's list cannot be read, reconciling waits this long, doubling up to the cap.
    list_backoff: float = 2.0
    list_max_backoff: float = 120.0


def _find_created(
    listed: list[dict[str, Any]], op: OperationRecord, *, since: datetime, taken: set[str]
) -> dict[str, Any] | None:
    """The API's operation that is this one: same device, type and time, created since the
    request was confirmed (with a little clock skew allowed), and not already someone's.

    `created_at` rules an item out only when it proves the item older than the confirm. The
    API's doc shows `created_at` on every item but never says it is required, and rejecting an
    item for a missing or unreadable one would make the bot POST a second, duplicate
    operation: the worse mistake. An item that provably matches is preferred to one that
    merely may."""
    wanted = format_api_time(op.scheduled_at)
    earliest = since - CLOCK_SKEW
    maybe: dict[str, Any] | None = None
    for item in listed:
        if str(item.get("id")) in taken:
            continue
        if (item.get("device_name"), item.get("operation_type")) != (
            op.device_name,
            op.operation_type,
        ):
            continue
        if _normal_time(item.get("scheduled_at")) != wanted:
            continue
        created = parse_api_time(item.get("created_at"))
        if created is None:
            maybe = maybe or item
        elif created >= earliest:
            return item
    return maybe


def _normal_time(value: Any) -> str | None:
    moment = parse_api_time(value)
    return format_api_time(moment) if moment else None


def utcnow() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


@dataclass(frozen=True, kw_only=True)
class Outcome:
    """The answer to a click: `reason` is "ok" or why nothing happened."""

    reason: str
    request: RequestRecord | None = None
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.reason == "ok"


@dataclass(frozen=True, kw_only=True)
class OperationList:
    items: list[dict[str, Any]] = field(default_factory=list)  # newest first
    total: int = 0  # how many operations the API holds
    page: int = 1
    page_size: int = LIST_PAGE
    # One device's list: how many of the newest operations were searched; None: all of them.
    searched: int | None = None


# What the bot answers to a typed request; each surface renders these its own way.


@dataclass(frozen=True, kw_only=True)
class Refused:
    reason: str
    example: str


@dataclass(frozen=True, kw_only=True)
class Proposed:
    request: RequestRecord


@dataclass(frozen=True, kw_only=True)
class Listed:
    listing: OperationList
    device: str | None


@dataclass(frozen=True, kw_only=True)
class Looked:
    operation_id: str
    item: dict[str, Any] | None


@dataclass(frozen=True, kw_only=True)
class Helped:
    catalog: Catalog


@dataclass(frozen=True, kw_only=True)
class Failed:
    message: str  # a sentence for a person (an API error)


Answer = Refused | Proposed | Listed | Looked | Helped | Failed


class OpsService:
    def __init__(
        self,
        *,
        store: Store,
        api: ZequenzeClient,
        notifier: Notifier,
        catalog: Catalog = DEFAULT_CATALOG,
        clock: Callable[[], datetime] = utcnow,
        on_submitted: Callable[[], None] = lambda: None,
        request_ttl: timedelta = REQUEST_TTL,
        tuning: Tuning | None = None,
    ) -> None:
        self.store = store
        self.api = api
        self.notifier = notifier
        self.catalog = catalog
        self.clock = clock
        self._on_submitted = on_submitted
        self._request_ttl = request_ttl
        self._tuning = tuning or Tuning()
        # Each reconcile reads the list's newest end: while that fails, wait longer each time.
        self._list_backoff = Backoff(
            first=self._tuning.list_backoff, cap=self._tuning.list_max_backoff
        )

    # --- understanding --------------------------------------------------------------------

    def handle_text(
        self,
        typed: str,
        *,
        requester: str,
        tz: str,
        surface: str,
        channel: str | None,
        thread_ts: str | None = None,
        response_url: str | None = None,
        notes: tuple[str, ...] = (),
    ) -> Answer:
        """What a person typed → the bot's answer. A plan is recorded, waiting for its click."""
        try:
            command = grammar.parse(typed, tz=tz, now=self.clock(), catalog=self.catalog)
        except Refusal as refusal:
            return Refused(reason=refusal.reason, example=refusal.example)
        try:
            if isinstance(command, HelpQuery):
                return Helped(catalog=self.catalog)
            if isinstance(command, ListQuery):
                return Listed(
                    listing=self.list_operations(device=command.device_name, page=command.page),
                    device=command.device_name,
                )
            if isinstance(command, StatusQuery):
                item = self.api.get_operation(command.operation_id, update_status=True)
                return Looked(operation_id=command.operation_id, item=item)
        except ApiError as exc:
            return Failed(message=exc.message)
        plan = command
        if notes:
            plan = replace(plan, notes=(*notes, *plan.notes))
        request = self.propose(
            plan,
            requester=requester,
            surface=surface,
            text=typed,
            channel=channel,
            thread_ts=thread_ts,
            response_url=response_url,
        )
        return Proposed(request=request)

    def understand_fields(
        self,
        *,
        operation_type: str,
        devices: str,
        values: dict[str, Any],
        when: datetime | None,
        tz: str,
    ) -> Plan:
        """The modal's fields → a plan. Raises `FieldErrors` naming every bad field."""
        return grammar.plan_from_fields(
            operation_type=operation_type,
            devices=devices,
            values=values,
            when=when,
            tz=tz,
            now=self.clock(),
            catalog=self.catalog,
        )

    def propose(
        self,
        plan: Plan,
        *,
        requester: str,
        surface: str,
        text: str,
        channel: str | None,
        thread_ts: str | None = None,
        response_url: str | None = None,
    ) -> RequestRecord:
        """Record what was understood, waiting for the requester's click."""
        now = self.clock()
        return self.store.create_request(
            specs=plan.operations,
            requester=requester,
            surface=surface,
            text=text,
            tz=plan.tz,
            immediate=plan.immediate,
            notes=plan.notes,
            channel=channel,
            thread_ts=thread_ts,
            response_url=response_url,
            now=now,
            expires_at=now + self._request_ttl,
        )

    def first_time(self, key: str) -> bool:
        """False when this Slack event was handled already (a redelivery)."""
        return self.store.first_time(key, now=self.clock())

    # --- the click ------------------------------------------------------------------------

    def cancel(self, request_id: str, *, user: str) -> Outcome:
        request = self.store.get_request(request_id)
        refusal = self._refuse_click(request, user=user)
        if refusal is not None:
            return refusal
        if self.store.end_request(request_id, to="cancelled", user=user):
            return Outcome(reason="ok", request=self.store.get_request(request_id))
        return self._why_not(request_id)

    def confirm(self, request_id: str, *, user: str) -> Outcome:
        """Exactly one click wins; the winner opens the thread and submits every operation."""
        request = self.store.get_request(request_id)
        refusal = self._refuse_click(request, user=user)
        if refusal is not None:
            return refusal
        assert request is not None
        now = self.clock()
        if (
            request.state == "pending"
            and not request.immediate
            and any(op.scheduled_at < now - LATE_CONFIRM_GRACE for op in request.operations)
        ):
            self.store.end_request(request_id, to="expired", user=None)
            return Outcome(reason="too_late", request=self.store.get_request(request_id))
        if not self.store.claim_confirmation(request_id, user=user, now=now):
            return self._why_not(request_id)
        failpoint("after_claim")
        claimed = self.store.get_request(request_id)
        assert claimed is not None
        try:
            thread = self.notifier.open_thread(claimed)
        except CannotPost as exc:
            self.store.release_confirmation(request_id)
            return Outcome(reason="cannot_post", request=claimed, detail=exc.message)
        except Exception:
            # The click is not lost: the request is pending again and can be confirmed again.
            log.exception("could not open the thread for %s", request_id)
            self.store.release_confirmation(request_id)
            return Outcome(reason="cannot_post", request=claimed)
        failpoint("after_thread_opened")
        self.store.mark_confirmed(
            request_id,
            channel=thread.channel,
            status_ts=thread.status_ts,
            scheduled_at=self.clock() if request.immediate else None,
            now=self.clock(),
        )
        self.submit_pending()
        return Outcome(reason="ok", request=self.store.get_request(request_id))

    def _refuse_click(self, request: RequestRecord | None, *, user: str) -> Outcome | None:
        if request is None:
            return Outcome(reason="not_found")
        if request.requester != user:
            return Outcome(reason="not_yours", request=request)
        if request.state == "pending" and request.expires_at <= self.clock():
            self.store.end_request(request.id, to="expired", user=None)
            return Outcome(reason="expired", request=request)
        return None

    def _why_not(self, request_id: str) -> Outcome:
        request = self.store.get_request(request_id)
        if request is None:
            return Outcome(reason="not_found")
        if request.state == "pending" and request.expires_at <= self.clock():
            # The claim lost to the clock: the request expired between the checks and the claim.
            self.store.end_request(request_id, to="expired", user=None)
            return Outcome(reason="expired", request=request)
        return Outcome(reason=f"already_{request.state}", request=request)

    # --- submitting -----------------------------------------------------------------------

    def submit_pending(self) -> int:
        """POST every confirmed operation not yet sent, one API call per device."""
        sent = 0
        for operation in self.store.operations_to_send(now=self.clock()):
            if self.store.start_sending(operation.id, now=self.clock()):
                failpoint("before_post")
                self._submit(operation)
                sent += 1
        if sent:
            self._on_submitted()
        return sent

    def _submit(self, operation: OperationRecord) -> None:
        announce = {"request_id": operation.request_id, "operation_id": operation.id}
        now = self.clock()
        if operation.scheduled_at < now - self._tuning.stale_send:
            # Sending it now would run it long after the time the person confirmed.
            self._refuse_to_send(operation, text.too_late_to_send(), announce)
            return
        spec = OperationSpec(
            device_name=operation.device_name,
            operation_type=operation.operation_type,
            scheduled_at=operation.scheduled_at,
            parameters=operation.parameters,
        )
        try:
            created = self.api.create_operation(spec)
        except ApiError as exc:
            self._not_created(operation, exc, announce)
            return
        except Exception:
            log.exception("creating operation %s failed unexpectedly", operation.id)
            self._not_created(
                operation,
                ApiError(text.SEND_CRASHED, outcome_unknown=True),
                announce,
            )
            return
        failpoint("after_post")
        duration = created.get("estimated_duration")
        status = created.get("status")
        try:
            self.store.record_submitted(
                operation.id,
                api_id=created["id"],
                status=status if isinstance(status, str) and status else "scheduled",
                estimated_duration=duration if isinstance(duration, int) else None,
                now=self.clock(),
                announce={**announce, "kind": "submitted"},
            )
        except Exception:
            # The API has it, but its answer could not be kept (a repeated id, a locked file):
            # only reconciling against the API's list can say which operation is this one.
            log.exception("could not record the answer to operation %s", operation.id)
            self._not_created(
                operation, ApiError(text.ANSWER_NOT_RECORDED, outcome_unknown=True), announce
            )

    def _not_created(self, operation: OperationRecord, exc: ApiError, announce: dict) -> None:
        now = self.clock()
        if exc.outcome_unknown:
            # The API may have created it: never POST again before its list says it did not.
            self.store.record_unsent(
                operation.id,
                state="unknown",
                error=exc.message,
                now=now,
                announce={**announce, "kind": "unsent", "error": exc.message, "unknown": True},
            )
        elif exc.retryable and operation.send_attempts + 1 < self._tuning.max_send_attempts:
            delay = min(300.0, self._tuning.send_backoff * 2**operation.send_attempts)
            self.store.requeue(
                operation.id, error=exc.message, not_before=now + timedelta(seconds=delay), now=now
            )
            self.store.enqueue(
                {**announce, "kind": "requeued", "error": exc.message, "retry_in": delay}, now=now
            )
        else:
            self.store.record_unsent(
                operation.id,
                state="rejected",
                error=exc.message,
                now=now,
                announce={**announce, "kind": "unsent", "error": exc.message},
            )

    def _refuse_to_send(self, operation: OperationRecord, reason: str, announce: dict) -> None:
        self.store.record_unsent(
            operation.id,
            state="rejected",
            error=reason,
            now=self.clock(),
            announce={**announce, "kind": "unsent", "error": reason},
        )

    # --- recovery ---------------------------------------------------------------------------

    def recover(self) -> None:
        """At start-up, after a crash: in-flight POSTs become unknown (to be reconciled), and
        half-done confirmations go back to pending, with a word to the requester."""
        now = self.clock()
        unknown, released = self.store.recover_after_crash(
            now=now, error=text.STOPPED_WHILE_SENDING
        )
        for request_id in released:
            self.store.enqueue(
                {"request_id": request_id, "kind": "private_confirm_interrupted"}, now=now
            )
        if unknown or released:
            log.warning(
                "recovered after a restart: %d operation(s) to reconcile, %d confirmation(s) "
                "released",
                unknown,
                len(released),
            )

    def reconcile_unknown(self) -> int:
        """For each operation whose POST outcome is unknown, look in the API's list for one
        created for the same device, type and time since it was confirmed: adopt it, or, when
        the whole list surely lacks it, send it again. Returns how many were resolved."""
        now = self.clock()
        due = [
            op
            for op in self.store.operations_in_state("unknown")
            if op.unknown_since is None or op.unknown_since <= now - self._tuning.reconcile_delay
        ]
        if not due or not self._list_backoff.ready(_LIST_KEY):
            return 0
        confirmed = {op.id: self._confirmed_at(op) for op in due}
        try:
            recent = self.api.recent_operations(since=min(confirmed.values()) - CLOCK_SKEW)
        except ApiError as exc:
            delay = self._list_backoff.failed(_LIST_KEY)
            log.warning(
                "cannot reconcile %d operation(s) yet (trying again in %.0f s): %s",
                len(due),
                delay,
                exc.message,
            )
            return 0
        if recent.complete:
            self._list_backoff.reset(_LIST_KEY)
        else:
            delay = self._list_backoff.failed(_LIST_KEY)
            log.warning(
                "the API's list since the confirmation could not be read whole in %d GETs "
                "(trying again in %.0f s): only adopting, not sending again",
                recent.requests,
                delay,
            )
        taken = self.store.adopted_api_ids()
        resolved = 0
        for op in due:
            match = _find_created(recent.items, op, since=confirmed[op.id], taken=taken)
            announce = {"request_id": op.request_id, "operation_id": op.id}
            if match is not None:
                taken.add(str(match["id"]))
                duration = match.get("estimated_duration")
                status = match.get("status")
                won = self.store.resolve_unknown(
                    op.id,
                    now=now,
                    adopt={
                        "api_id": str(match["id"]),
                        "status": status if isinstance(status, str) and status else "scheduled",
                        "estimated_duration": duration if isinstance(duration, int) else None,
                    },
                    announce={**announce, "kind": "adopted"},
                )
            elif not recent.complete:
                continue  # its absence is not proven
            elif op.send_attempts + 1 >= self._tuning.max_send_attempts:
                won = self.store.resolve_unknown(
                    op.id,
                    now=now,
                    give_up=text.GAVE_UP,
                    announce={**announce, "kind": "gave_up", "error": text.GAVE_UP},
                )
            else:
                won = self.store.resolve_unknown(
                    op.id, now=now, announce={**announce, "kind": "resend"}
                )
            resolved += int(won)
        if resolved and not self.submit_pending():  # a resend wakes the loops itself
            self._on_submitted()  # adopted ones are news for the poller and the outbox too
        return resolved

    def _confirmed_at(self, op: OperationRecord) -> datetime:
        request = self.store.get_request(op.request_id)
        return request.confirmed_at if request and request.confirmed_at else op.scheduled_at

    # --- looking ------------------------------------------------------------------------

    def list_operations(self, *, device: str | None = None, page: int = 1) -> OperationList:
        """A page of the API's newest operations; or one device's newest (its name compared
        ignoring case), searched for among the newest DEVICE_SEARCH. A few GETs at most,
        however many operations the API holds."""
        if device is None:
            newest = self.api.newest_operations(limit=LIST_PAGE, offset=(page - 1) * LIST_PAGE)
            return OperationList(items=newest.items, total=newest.total, page=page)
        wanted = device.lower()
        found = self.api.find_newest(
            lambda item: str(item.get("device_name", "")).lower() == wanted,
            want=LIST_PAGE,
            within=DEVICE_SEARCH,
            page_size=DEVICE_SEARCH_PAGE,
        )
        return OperationList(
            items=found.items,
            total=found.total,
            searched=None if found.whole else found.searched,
        )
