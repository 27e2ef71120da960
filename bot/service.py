"""The one path every surface shares: request → confirm → submit → track.

The Slack handlers and the console demo both call this; neither knows how the other talks.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from bot import grammar
from bot.api import ApiError, ZequenzeClient
from bot.catalog import DEFAULT_CATALOG, Catalog
from bot.model import HelpQuery, ListQuery, OperationSpec, Plan, Refusal, StatusQuery
from bot.ports import CannotPost, Notifier
from store import OperationRecord, RequestRecord, Store

log = logging.getLogger(__name__)

REQUEST_TTL = timedelta(minutes=15)
# A time that passed while the request waited for its click is still honoured within this grace;
# later than that, the person is asked again rather than the bot running it at a surprise hour.
LATE_CONFIRM_GRACE = timedelta(minutes=2)
LIST_LIMIT = 40


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
    items: list[dict[str, Any]] = field(default_factory=list)
    total: int = 0


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
    ) -> None:
        self.store = store
        self.api = api
        self.notifier = notifier
        self.catalog = catalog
        self.clock = clock
        self._on_submitted = on_submitted
        self._request_ttl = request_ttl

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
                    listing=self.list_operations(device=command.device_name),
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
        if not request.immediate and any(
            op.scheduled_at < now - LATE_CONFIRM_GRACE for op in request.operations
        ):
            self.store.end_request(request_id, to="expired", user=None)
            return Outcome(reason="too_late", request=self.store.get_request(request_id))
        if not self.store.claim_confirmation(request_id, user=user, now=now):
            return self._why_not(request_id)
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
        return Outcome(reason=f"already_{request.state}", request=request)

    # --- submitting -----------------------------------------------------------------------

    def submit_pending(self) -> int:
        """POST every confirmed operation not yet sent, one API call per device."""
        sent = 0
        for operation in self.store.operations_to_send():
            if self.store.start_sending(operation.id, now=self.clock()):
                self._submit(operation)
                sent += 1
        if sent:
            self._on_submitted()
        return sent

    def _submit(self, operation: OperationRecord) -> None:
        spec = OperationSpec(
            device_name=operation.device_name,
            operation_type=operation.operation_type,
            scheduled_at=operation.scheduled_at,
            parameters=operation.parameters,
        )
        announce = {"request_id": operation.request_id, "operation_id": operation.id}
        try:
            created = self.api.create_operation(spec)
        except ApiError as exc:
            self.store.record_unsent(
                operation.id,
                state="unknown" if exc.outcome_unknown else "rejected",
                error=exc.message,
                now=self.clock(),
                announce={**announce, "kind": "unsent", "error": exc.message},
            )
            return
        except Exception:
            log.exception("creating operation %s failed unexpectedly", operation.id)
            message = "The bot failed while sending this operation; it may not have been created."
            self.store.record_unsent(
                operation.id,
                state="unknown",
                error=message,
                now=self.clock(),
                announce={**announce, "kind": "unsent", "error": message},
            )
            return
        duration = created.get("estimated_duration")
        status = created.get("status")
        self.store.record_submitted(
            operation.id,
            api_id=created["id"],
            status=status if isinstance(status, str) and status else "scheduled",
            estimated_duration=duration if isinstance(duration, int) else None,
            now=self.clock(),
            announce={**announce, "kind": "submitted"},
        )

    # --- looking ------------------------------------------------------------------------

    def list_operations(
        self, *, device: str | None = None, limit: int = LIST_LIMIT
    ) -> OperationList:
        """Every page of the API's list, newest first, filtered by device if asked."""
        items: list[dict[str, Any]] = []
        for page in self.api.list_operations():
            items.extend(
                item
                for item in page.results
                if device is None or str(item.get("device_name", "")).lower() == device.lower()
            )
        items.sort(
            key=lambda item: (str(item.get("created_at", "")), str(item.get("id"))), reverse=True
        )
        return OperationList(items=items[:limit], total=len(items))
