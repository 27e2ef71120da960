"""The one path every surface shares: a request is understood and proposed; a person's click
confirms or cancels it, or answers the bot's question about an operation whose outcome it
cannot know. A click changes the store and answers: sending, posting and tracking follow in
the loops (bot/track/sending.py, bot/track/outbox.py, bot/track/poller.py, bot/track/reconcile.py).

The Slack handlers and the console demo both call this; neither knows how the other talks.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from bot import say
from bot.answers import (
    LIST_PAGE,
    Answer,
    Failed,
    Helped,
    Listed,
    Looked,
    OperationList,
    Outcome,
    Proposed,
    Refused,
)
from bot.model import (
    HelpQuery,
    ListQuery,
    Plan,
    Refusal,
    StatusQuery,
)
from bot.policy.approvals import Approvals
from bot.policy.clicks import Clicks
from bot.policy.desk import PolicyDesk
from bot.policy.freezes import FreezeDesk
from bot.policy.outside import Outside
from bot.policy.rules import Policy
from bot.ports import GroupsUnavailable
from bot.run.failpoints import failpoint
from bot.say.common import escape
from bot.track.halts import Halts
from bot.track.tuning import DEFAULT_TUNING, Tuning
from bot.understand import grammar
from bot.understand.courtesy import request_start
from bot.understand.fields import plan_from_fields
from bot.understand.preflight import OperationSearch
from bot.understand.suggestions import as_plan
from bot.understand.typed import plain, storable
from bot.zequenze.api import ApiError, ZequenzeClient
from bot.zequenze.devices import DeviceBook
from store import OperationRecord, RequestRecord, Store

log = logging.getLogger(__name__)

REQUEST_TTL = timedelta(minutes=15)
# A time that passed while the request waited for its click is still honoured within this grace;
# later than that, the person is asked again rather than the bot running it at a surprise hour.
LATE_CONFIRM_GRACE = timedelta(minutes=2)
# An operation kept outside its window waits this long for a person's Move or Drop; then it
# ends unsent, so that its request (its later waves, its summary) is not held for ever.
OUTSIDE_ANSWER_WAIT = timedelta(days=1)
DEVICE_SEARCH = 1000  # `/ops list <device>` looks among this many of the newest operations
DEVICE_SEARCH_PAGE = 100


def utcnow() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def precise_utcnow() -> datetime:
    return datetime.now(UTC)


class OpsService:
    def __init__(
        self,
        *,
        store: Store,
        api: ZequenzeClient,
        devices: DeviceBook,
        policy: Policy | None = None,
        look: OperationSearch | None = None,
        clock: Callable[[], datetime] = utcnow,
        on_confirmed: Callable[[], None] = lambda: None,
        request_ttl: timedelta = REQUEST_TTL,
        tuning: Tuning = DEFAULT_TUNING,
    ) -> None:
        self.store = store
        self.api = api
        self.devices = devices
        self.policy = policy or Policy()
        self.catalog = self.policy.config.catalog
        self.naming = self.policy.config.naming  # groups and limits
        self.clock = clock
        # A click changes the store and answers; the loops that send and post are woken.
        self._on_confirmed = on_confirmed
        self._request_ttl = request_ttl
        self._tuning = tuning
        self.desk = PolicyDesk(store=store, policy=self.policy, look=look or api, clock=clock)
        self.clicks = Clicks(store=store, policy=self.policy, desk=self.desk, clock=clock)
        self.halts = Halts(store=store, clicks=self.clicks, clock=clock, on_change=on_confirmed)
        self.outside = Outside(
            store=store, desk=self.desk, clicks=self.clicks, clock=clock, on_change=on_confirmed
        )
        self.approvals = Approvals(
            store=store,
            policy=self.policy,
            clicks=self.clicks,
            desk=self.desk,
            clock=clock,
            on_change=on_confirmed,
        )
        self.freezes = FreezeDesk(
            store=store, api=api, policy=self.policy, clock=clock, on_change=on_confirmed
        )
        # Told the requester of a request whose change went out to Slack (the Home tab
        # refreshes theirs): added by the Slack side, called by the outbox.
        self.watchers: list[Callable[[RequestRecord], None]] = []

    def request_changed(self, request: RequestRecord) -> None:
        for watcher in self.watchers:
            try:
                watcher(request)
            except Exception:
                log.exception("a watcher of request changes failed")

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
        """What a person typed → the bot's answer. A plan is recorded, waiting for its click;
        `plan <command>` shows what would be asked without recording anything. Every refusal
        is audited."""
        # The first word ends at any space, a non-breaking one too, as the grammar reads it;
        # the rest keeps what followed it, so a control character there is still refused.
        # It is the request's first word, past any politeness ("can you plan …?"), which a
        # plan's text keeps, for the grammar to read past as well.
        stripped = plain(typed).strip()
        start = request_start(stripped, self.catalog)
        word = stripped[start:].split(None, 1)[0] if stripped[start:] else ""
        rest = stripped[start + len(word) :]
        dry_run = word.lower() == "plan"
        if dry_run:
            rest = stripped[:start] + rest
        now = self.clock()
        result = self._understand(
            typed,
            word=word.lower(),
            rest=rest,
            dry_run=dry_run,
            requester=requester,
            tz=tz,
            channel=channel,
            now=now,
        )
        if isinstance(result, Plan):
            plan = replace(result, notes=(*notes, *result.notes)) if notes else result

            def retype(name: str, instead: str) -> str | None:
                """The request typed with the service `instead` of `name`, read as it was."""
                found = grammar.with_name(
                    rest if dry_run else typed,
                    name=name,
                    instead=instead,
                    tz=tz,
                    now=now,
                    catalog=self.catalog,
                    naming=self.naming,
                )
                return f"{word} {found}" if found and dry_run else found

            return self.propose(
                plan,
                requester=requester,
                surface=surface,
                text=typed,
                channel=channel,
                thread_ts=thread_ts,
                response_url=response_url,
                dry_run=dry_run,
                retype=retype,
            )
        if isinstance(result, Refused):
            self._audit_refusal(
                result, typed=typed, requester=requester, channel=channel, surface=surface
            )
        return result

    def _understand(
        self,
        typed: str,
        *,
        word: str,
        rest: str,
        dry_run: bool,
        requester: str,
        tz: str,
        channel: str | None,
        now: datetime,
    ) -> Answer | Plan:
        if word in ("freeze", "unfreeze"):
            return self.freezes.order(word, rest, user=requester, channel=channel, tz=tz)
        try:
            command = grammar.parse(
                rest if dry_run else typed,
                tz=tz,
                now=now,
                catalog=self.catalog,
                naming=self.naming,
            )
            if dry_run and not isinstance(command, Plan):
                raise Refusal(say.policy.PLAN_NEEDS_OPERATION, example=say.policy.PLAN_EXAMPLE)
            if isinstance(command, HelpQuery):
                return Helped(
                    kinds=self.policy.kinds_for(requester),
                    admin=self.desk.shows_admin(requester),
                    max_devices=self.naming.limits.max_devices,
                )
            if isinstance(command, ListQuery):
                listing = self.list_operations(device=command.device_name, page=command.page)
                # After the list, which taught the book any name it showed: the device is
                # named as the API spells it, not as typed (`list SERVER-01`).
                device = command.device_name
                return Listed(
                    listing=listing, device=self.devices.spelled(device) if device else None
                )
            if isinstance(command, StatusQuery):
                item = self.api.get_operation(command.operation_id, update_status=True)
                self.devices.learn([item] if item else [])
                return Looked(operation_id=command.operation_id, item=item)
        except Refusal as refusal:
            if dry_run:  # typed back, an example shows a plan too
                refusal = as_plan(refusal, self.catalog)
            return Refused(reason=refusal.reason, example=refusal.example)
        except ApiError as exc:
            return Failed(message=exc.message)
        except GroupsUnavailable as exc:
            return Refused(reason=say.policy.groups_unavailable(exc.reason), example="")
        return command

    def _audit_refusal(
        self, refused: Refused, *, typed: str, requester: str, channel: str | None, surface: str
    ) -> None:
        self.store.record_audit(
            event="refused",
            actor=requester,
            now=self.clock(),
            channel=channel,
            detail={
                "text": storable(typed),
                "reason": storable(refused.reason),
                "surface": surface,
            },
        )

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
        return plan_from_fields(
            operation_type=operation_type,
            devices=devices,
            values=values,
            when=when,
            tz=tz,
            now=self.clock(),
            catalog=self.catalog,
            naming=self.naming,
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
        dry_run: bool = False,
        retype: Callable[[str, str], str | None] | None = None,
    ) -> Proposed | Refused:
        """Record what was understood, waiting for the requester's click, with what the
        policy says of it; or the policy's refusal. Device names are spelled as the API
        spells them, and one it has never shown is flagged; a service close to a known one
        is asked about (`retype`: the typed request naming another service). A dry run is
        only shown."""
        plan = self.devices.spell(plan, retype=retype, dry_run=dry_run)
        verdict = self.desk.judge(plan, requester=requester, channel=channel)
        if isinstance(verdict, Refused):
            self._audit_refusal(
                verdict, typed=text, requester=requester, channel=channel, surface=surface
            )
            return verdict
        now = self.clock()
        create = RequestRecord.preview if dry_run else self.store.create_request
        request = create(
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
            policy=self.desk.snapshot(plan, verdict),
            wave_size=plan.wave_size,
            canary=plan.canary,
        )
        return Proposed(request=request, dry_run=dry_run)

    def first_time(self, key: str) -> bool:
        """False when this Slack event was handled already (a redelivery)."""
        return self.store.first_time(key, now=self.clock())

    # --- the click ------------------------------------------------------------------------

    def cancel(self, request_id: str, *, user: str) -> Outcome:
        request = self.store.get_request(request_id)
        refusal = self._refuse_click(request, user=user, action="cancel")
        if refusal is not None:
            return refusal
        if self.store.end_request(request_id, to="cancelled", user=user, now=self.clock()):
            return Outcome(reason="ok", request=self.store.get_request(request_id))
        return self._why_not(request_id)

    def confirm(self, request_id: str, *, user: str) -> Outcome:
        """Exactly one click wins. It marks the request confirmed and queues its public
        message, in one transaction, and answers: sending and posting follow in the loops,
        whatever Slack or the API is doing."""
        request = self.store.get_request(request_id)
        refusal = self._refuse_click(request, user=user, action="confirm")
        if refusal is not None:
            return refusal
        assert request is not None
        now = self.clock()
        if (
            request.state == "pending"
            and not request.immediate
            and any(op.scheduled_at < now - LATE_CONFIRM_GRACE for op in request.operations)
        ):
            return self._expire(request, reason="too_late")
        if not self.desk.judged_under_this_policy(request):
            return self._expire(request, reason="policy_changed")
        if request.state == "pending" and self.desk.window_closed(request, now):
            return self._expire(request, reason="window_closed")
        run_at = now if request.immediate else None
        approval = self.desk.approval_at(request, now)
        if isinstance(approval, Refused):
            return Outcome(reason="refused", request=request, detail=escape(approval.reason))
        needed = int(approval.get("needed") or 0)
        policy = {**request.policy, "approval": approval or None}
        if not self.store.confirm(
            request_id,
            user=user,
            now=now,
            run_at=run_at,
            approvals_needed=needed,
            approver_sets=approval.get("approver_sets") or (),
            approval_expires_at=now + timedelta(seconds=approval.get("expires") or 0),
            policy=policy,
        ):
            return self._why_not(request_id)
        failpoint("after_confirm")
        self._on_confirmed()
        return Outcome(reason="ok", request=self.store.get_request(request_id))

    def move_to_window(self, request_id: str, *, user: str) -> Outcome:
        """The requester's answer to "outside the maintenance window": each operation moves
        to its window's next start, or, when the windows are open now, the request runs now
        (when confirmed, if they still are); it is shown again to be confirmed."""
        request = self.store.get_request(request_id)
        refusal = self._refuse_click(request, user=user, action="move")
        if refusal is not None:
            return refusal
        assert request is not None
        if request.state != "pending":
            return self._why_not(request_id)
        moved = self.desk.moved(request, user=user)
        if moved is None:
            return Outcome(reason="nothing_to_move", request=request)
        if isinstance(moved, Refused):
            detail = moved.reason if moved.markup else escape(moved.reason)
            return Outcome(reason="refused", request=request, detail=detail)
        times = {
            op.id: s.scheduled_at for op, s in zip(request.operations, moved.specs, strict=True)
        }
        if not self.store.reschedule_pending(
            request_id,
            user=user,
            times=times,
            note=say.policy.MOVED_INTO_OPEN_WINDOW if moved.now else say.policy.MOVED_TO_WINDOW,
            now=self.clock(),
            policy=moved.policy,
            immediate=moved.now,
        ):
            return self._why_not(request_id)
        return Outcome(reason="ok", request=self.store.get_request(request_id))

    def send_again(self, operation_id: int, *, user: str) -> Outcome:
        """The requester's answer to "did the API create it?": send it again, now for a
        request that was for now. Its first attempt is still watched for, in case it reached
        the API after all. Sent again, it is judged once more before it goes."""
        found = self._asked_about(operation_id, user=user, action="send_again")
        if isinstance(found, Outcome):
            return found
        request, op = found
        if op.state != "unknown":
            return self._settled(operation_id, request)
        if request.state not in ("confirmed", "approving"):
            return Outcome(reason=f"already_{request.state}", request=request)
        now = self.clock()
        if not request.immediate and op.scheduled_at < now - LATE_CONFIRM_GRACE:
            # Its time has gone by while nobody knew: sent now, it would run at a surprise hour.
            return Outcome(reason="too_late_to_resend", request=request)
        if not self.store.send_again(
            operation_id,
            user=user,
            now=now,
            run_at=now if request.immediate else None,
            watch_until=now + self._tuning.watch_original,
            announce=op.announce("sending_again", by=user),
        ):
            return self._settled(operation_id, request)
        self._on_confirmed()
        return Outcome(reason="ok", request=self.store.get_request(request.id))

    def drop(self, operation_id: int, *, user: str) -> Outcome:
        """The requester's other answer: nothing more is sent for it. Its first attempt is
        still watched for: if it turns up, the thread says so and it is followed."""
        found = self._asked_about(operation_id, user=user, action="drop")
        if isinstance(found, Outcome):
            return found
        request, op = found
        now = self.clock()
        if not self.store.drop_unknown(
            operation_id,
            user=user,
            now=now,
            error=say.recovery.DROPPED,
            watch_until=now + self._tuning.watch_original,
            announce=op.announce("dropped", by=user),
        ):
            return self._settled(operation_id, request)
        self._on_confirmed()
        return Outcome(reason="ok", request=self.store.get_request(request.id))

    # --- waves: Continue and Stop after a failed wave ---------------------------------------

    def _asked_about(
        self, operation_id: int, *, user: str, action: str
    ) -> tuple[RequestRecord, OperationRecord] | Outcome:
        """The request asked about and its operation, as the policy file in force sees them;
        only its requester may answer."""
        request = self.store.request_of_operation(operation_id)
        if request is None:
            return Outcome(reason="not_found")
        if request.requester != user:
            return self.clicks.refused(
                request, user=user, action=action, reason="not_yours_to_answer"
            )
        current = self.clicks.as_judged_now(
            request, user=user, action=action, forward=action == "send_again"
        )
        if isinstance(current, Outcome):
            return current
        op = next(o for o in current.operations if o.id == operation_id)
        return current, op

    def _settled(self, operation_id: int, request: RequestRecord) -> Outcome:
        """Why a Send again / Drop changed nothing: the question was settled meanwhile."""
        current = self.store.request_of_operation(operation_id) or request
        op = next((o for o in current.operations if o.id == operation_id), None)
        if op is not None and op.api_id and not op.answered_by:
            return Outcome(reason="already_found", request=current, detail=op.api_id)
        return Outcome(reason="already_answered", request=current)

    def _refuse_click(
        self, request: RequestRecord | None, *, user: str, action: str
    ) -> Outcome | None:
        if request is None:
            return Outcome(reason="not_found")
        if request.requester != user:
            return self.clicks.refused(request, user=user, action=action, reason="not_yours")
        if request.state == "pending" and request.expires_at <= self.clock():
            return self._expire(request, reason="expired")
        return None

    def expire_due(self) -> None:
        """What waited too long ends now, said and audited when it happens: requests nobody
        clicked, approvals that did not come (one that came too late must not send), and
        operations kept outside their window that nobody moved or dropped within a day."""
        now = self.clock()
        self.store.expire_pending(now=now)
        self.approvals.expire()
        if self.store.drop_unanswered_outside(
            kept_before=now - OUTSIDE_ANSWER_WAIT, error=say.policy.OUTSIDE_UNANSWERED, now=now
        ):
            self._on_confirmed()

    def _why_not(self, request_id: str) -> Outcome:
        request = self.store.get_request(request_id)
        if request is None:
            return Outcome(reason="not_found")
        if request.state == "pending" and request.expires_at <= self.clock():
            # The claim lost to the clock: the request expired between the checks and the claim.
            return self._expire(request, reason="expired")
        return Outcome(reason=f"already_{request.state}", request=request)

    def _expire(self, request: RequestRecord, *, reason: str) -> Outcome:
        """pending → expired, and say so; unless another click changed it first, which is
        then what the person is told."""
        if not self.store.end_request(request.id, to="expired", user=None, now=self.clock()):
            current = self.store.get_request(request.id) or request
            return Outcome(reason=f"already_{current.state}", request=current)
        return Outcome(reason=reason, request=self.store.get_request(request.id))

    # --- looking ------------------------------------------------------------------------

    def list_operations(self, *, device: str | None = None, page: int = 1) -> OperationList:
        """A page of the API's newest operations; or one device's newest (its name compared
        ignoring case), searched for among the newest DEVICE_SEARCH. A few GETs at most,
        however many operations the API holds."""
        if device is None:
            newest = self.api.newest_operations(limit=LIST_PAGE, offset=(page - 1) * LIST_PAGE)
            self.devices.learn(newest.items)
            return OperationList(items=newest.items, total=newest.total, page=page)
        wanted = device.lower()
        found = self.api.find_newest(
            lambda item: str(item.get("device_name", "")).lower() == wanted,
            want=LIST_PAGE,
            within=DEVICE_SEARCH,
            page_size=DEVICE_SEARCH_PAGE,
        )
        self.devices.learn(found.items)
        return OperationList(
            items=found.items,
            total=found.total,
            searched=None if found.whole else found.searched,
        )
