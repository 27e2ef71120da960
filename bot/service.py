"""The one path every surface shares: a request is understood and proposed; a person's click
confirms or cancels it, or answers the bot's question about an operation whose outcome it
cannot know. A click changes the store and answers: sending, posting and tracking follow in
the loops (bot/sending.py, bot/outbox.py, bot/poller.py, bot/reconcile.py).

The Slack handlers and the console demo both call this; neither knows how the other talks.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from bot import grammar, preflight, text
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
from bot.api import ApiError, ZequenzeClient
from bot.approvals import Approvals
from bot.catalog import OperationKind
from bot.devices import DeviceBook
from bot.failpoints import failpoint
from bot.model import (
    HelpQuery,
    ListQuery,
    OperationSpec,
    Plan,
    Refusal,
    StatusQuery,
    format_api_time,
)
from bot.policy import freezes
from bot.policy.config import DEFAULT_EXPIRES, OUTSIDE_APPROVE
from bot.policy.freezes import FreezeDesk
from bot.policy.rules import Policy, PolicyRefused, Verdict
from bot.ports import GroupsUnavailable
from bot.preflight import OperationSearch
from bot.text import escape
from bot.tuning import DEFAULT_TUNING, Tuning
from bot.when import both_times, local_time
from store import OperationRecord, RequestRecord, Store

REQUEST_TTL = timedelta(minutes=15)
# A time that passed while the request waited for its click is still honoured within this grace;
# later than that, the person is asked again rather than the bot running it at a surprise hour.
LATE_CONFIRM_GRACE = timedelta(minutes=2)
DEVICE_SEARCH = 1000  # `/ops list <device>` looks among this many of the newest operations
DEVICE_SEARCH_PAGE = 100


def utcnow() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def precise_utcnow() -> datetime:
    return datetime.now(UTC)


def _wave_state(request: RequestRecord) -> str:
    """Where a request's waves stand, for a click that came too late to change them."""
    if request.wave_state == "stopped":
        return "it was stopped"
    if request.wave_state == "halted":
        return f"it is halted after wave {request.wave} now: use the newest buttons"
    if request.wave_state == "going":
        return f"it goes on, wave {request.wave} of {request.waves}"
    return "it is not in waves"


def _times(specs: Sequence[OperationSpec]) -> list[str]:
    return [format_api_time(s.scheduled_at) for s in specs]


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
        # The pre-flight look before a confirmation: a client that gives up fast, since a
        # person waits for the answer (a look that fails is a note, not a refusal).
        self._look = look or api
        self.catalog = self.policy.config.catalog
        self.naming = self.policy.config.naming  # groups and limits
        self.clock = clock
        # A click changes the store and answers; the loops that send and post are woken.
        self._on_confirmed = on_confirmed
        self._request_ttl = request_ttl
        self._tuning = tuning
        self.approvals = Approvals(
            store=store, policy=self.policy, clock=clock, on_change=on_confirmed
        )
        self.freezes = FreezeDesk(
            store=store, api=api, policy=self.policy, clock=clock, on_change=on_confirmed
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
        """What a person typed → the bot's answer. A plan is recorded, waiting for its click;
        `plan <command>` shows what would be asked without recording anything. Every refusal
        is audited."""
        word, _, rest = typed.strip().partition(" ")
        dry_run = word.lower() == "plan"
        result = self._understand(
            typed, word=word.lower(), rest=rest, requester=requester, tz=tz, channel=channel
        )
        if isinstance(result, Plan):
            plan = replace(result, notes=(*notes, *result.notes)) if notes else result
            return self.propose(
                plan,
                requester=requester,
                surface=surface,
                text=typed,
                channel=channel,
                thread_ts=thread_ts,
                response_url=response_url,
                dry_run=dry_run,
            )
        if isinstance(result, Refused):
            self._audit_refusal(
                result, typed=typed, requester=requester, channel=channel, surface=surface
            )
        return result

    def _understand(
        self, typed: str, *, word: str, rest: str, requester: str, tz: str, channel: str | None
    ) -> Answer | Plan:
        if word in ("freeze", "unfreeze"):
            return self.freezes.order(word, rest, user=requester, channel=channel, tz=tz)
        dry_run = word == "plan"
        try:
            command = grammar.parse(
                rest if dry_run else typed,
                tz=tz,
                now=self.clock(),
                catalog=self.catalog,
                naming=self.naming,
            )
            if dry_run and not isinstance(command, Plan):
                raise Refusal(text.PLAN_NEEDS_OPERATION, example=text.PLAN_EXAMPLE)
            if isinstance(command, HelpQuery):
                return Helped(
                    kinds=self.policy.kinds_for(requester), admin=self._shows_admin(requester)
                )
            if isinstance(command, ListQuery):
                return Listed(
                    listing=self.list_operations(device=command.device_name, page=command.page),
                    device=command.device_name,
                )
            if isinstance(command, StatusQuery):
                item = self.api.get_operation(command.operation_id, update_status=True)
                self.devices.learn([item] if item else [])
                return Looked(operation_id=command.operation_id, item=item)
        except Refusal as refusal:
            return Refused(reason=refusal.reason, example=refusal.example)
        except ApiError as exc:
            return Failed(message=exc.message)
        except GroupsUnavailable as exc:
            return Refused(reason=text.groups_unavailable(exc.reason), example="")
        return command

    def _shows_admin(self, user: str) -> bool:
        """Whether help shows the admins' commands: a group that cannot be read just now
        hides them (a freeze is checked again when typed) rather than refusing the help."""
        try:
            return self.policy.is_admin(user)
        except GroupsUnavailable:
            return False

    def _audit_refusal(
        self, refused: Refused, *, typed: str, requester: str, channel: str | None, surface: str
    ) -> None:
        self.store.record_audit(
            event="refused",
            actor=requester,
            now=self.clock(),
            channel=channel,
            detail={"text": typed, "reason": refused.reason, "surface": surface},
        )

    def _conflicts(self, specs: Sequence[OperationSpec]) -> dict[str, Any]:
        found = preflight.find_conflicts(api=self._look, specs=specs, now=self.clock())
        return preflight.snapshot(found)

    def kinds_for(self, user: str, *, channel: str | None) -> tuple[OperationKind, ...] | Refused:
        """The operation kinds this person may request (for the form), or why none."""
        try:
            if channel is not None and not self.policy.channel_allowed(channel):
                who = self.policy.config.access.channels or ()
                return Refused(reason=text.policy_refusal("channel", who), example="", markup=True)
            kinds = self.policy.kinds_for(user)
        except GroupsUnavailable as exc:
            return Refused(reason=text.groups_unavailable(exc.reason), example="")
        if not kinds:
            who = self.policy.config.access.requesters or ()
            return Refused(reason=text.policy_refusal("requester", who), example="", markup=True)
        return kinds

    def judge(self, plan: Plan, *, requester: str, channel: str | None) -> Verdict | Refused:
        """What the policy says of this plan, here, for this person: a refusal that names
        who can, or what it needs (approval, windows)."""
        frozen = self.store.active_freezes(now=self.clock())
        for spec in plan.operations:
            freeze = freezes.covering(frozen, spec.device_name)
            if freeze is not None:
                until = f"{local_time(freeze.until, plan.tz)} ({plan.tz})" if freeze.until else None
                reason = text.frozen_refusal(
                    escape(spec.device_name),
                    by=freeze.frozen_by,
                    reason=escape(freeze.reason),
                    until=until,
                )
                return Refused(reason=reason, example="", markup=True)
        try:
            verdict = self.policy.judge(requester=requester, channel=channel, specs=plan.operations)
        except PolicyRefused as refused:
            reason = text.policy_refusal(refused.why, refused.who, needed=refused.needed)
            return Refused(reason=reason, example="", markup=True)
        except GroupsUnavailable as exc:
            return Refused(reason=text.groups_unavailable(exc.reason), example="")
        if verdict.blocked:
            check = verdict.blocked[0]
            assert check.next_start is not None
            reason = text.outside_window_refusal(
                check.device_name,
                when=check.window.when.text,
                tz=check.window.tz,
                next_start=both_times(check.next_start, window_tz=check.window.tz, tz=plan.tz),
            )
            return Refused(reason=reason, example="")
        return verdict

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
    ) -> Proposed | Refused:
        """Record what was understood, waiting for the requester's click, with what the
        policy says of it; or the policy's refusal. Device names are spelled as the API
        spells them, and one it has never shown is flagged. A dry run is only shown."""
        plan = self.devices.spell(plan)
        verdict = self.judge(plan, requester=requester, channel=channel)
        if isinstance(verdict, Refused):
            self._audit_refusal(
                verdict, typed=text, requester=requester, channel=channel, surface=surface
            )
            return verdict
        now = self.clock()
        looked = self._conflicts(plan.operations)
        if any(c.next_start for c in verdict.outside):
            # Offered a Move into the window: the conflicts at the moved times are looked for
            # now, so that the click need not wait on the API.
            starts = {c.seq: c.next_start for c in verdict.outside if c.next_start}
            moved = [
                replace(spec, scheduled_at=starts.get(seq, spec.scheduled_at))
                for seq, spec in enumerate(plan.operations)
            ]
            looked["moved_conflicts"] = {"times": _times(moved), "found": self._conflicts(moved)}
        create = self.store.preview_request if dry_run else self.store.create_request
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
            policy={**verdict.snapshot(), **looked, "fingerprint": self.policy.config.fingerprint},
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
        refusal = self._refuse_click(request, user=user)
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
            return self._expire(request, reason="too_late")
        if request.policy.get("fingerprint", "") != self.policy.config.fingerprint:
            # Judged under another policy file: it is asked for again, never sent on the old
            # file's word.
            return self._expire(request, reason="policy_changed")
        run_at = now if request.immediate else None
        approval = self._approval_at(request, run_at)
        if isinstance(approval, Outcome):
            return approval
        needed = int(approval.get("needed") or 0)
        if not self.store.confirm(
            request_id,
            user=user,
            now=now,
            run_at=run_at,
            approvals_needed=needed,
            approver_sets=approval.get("approver_sets") or (),
            approval_expires_at=now + timedelta(seconds=approval.get("expires") or 0),
        ):
            return self._why_not(request_id)
        failpoint("after_confirm")
        self._on_confirmed()
        return Outcome(reason="ok", request=self.store.get_request(request_id))

    def _approval_at(
        self, request: RequestRecord, run_at: datetime | None
    ) -> dict[str, Any] | Outcome:
        """The approval the request needs, its windows read again for a request for now: it
        runs when confirmed, not when it was typed, and may have left its window meanwhile."""
        approval = dict(request.policy.get("approval") or {})
        if run_at is None:
            return approval
        checks = self.policy.window_checks(
            [replace(op.spec(), scheduled_at=run_at) for op in request.operations]
        )
        blocked = next((c for c in checks if c.blocked), None)
        if blocked is not None:
            assert blocked.next_start is not None
            detail = text.outside_window_refusal(
                blocked.device_name,
                when=blocked.window.when.text,
                tz=blocked.window.tz,
                next_start=both_times(
                    blocked.next_start, window_tz=blocked.window.tz, tz=request.tz
                ),
            )
            return Outcome(reason="refused", request=request, detail=escape(detail))
        if not approval and any(
            not c.inside and c.window.outside == OUTSIDE_APPROVE for c in checks
        ):
            approval = {
                "needed": 1,
                "approver_sets": [None],
                "expires": DEFAULT_EXPIRES.total_seconds(),
            }
        return approval

    def move_to_window(self, request_id: str, *, user: str) -> Outcome:
        """The requester's answer to "outside the maintenance window": each operation moves
        to its window's next start, and the request is shown again to be confirmed."""
        request = self.store.get_request(request_id)
        refusal = self._refuse_click(request, user=user)
        if refusal is not None:
            return refusal
        assert request is not None
        if request.state != "pending":
            return self._why_not(request_id)
        now = self.clock()
        ops = request.operations
        specs = [replace(op.spec(), scheduled_at=self._into_window(op, now)) for op in ops]
        if [s.scheduled_at for s in specs] == [op.scheduled_at for op in ops]:
            return Outcome(reason="nothing_to_move", request=request)
        plan = Plan(operations=tuple(specs), tz=request.tz, immediate=False)
        verdict = self.judge(plan, requester=user, channel=request.channel)
        if isinstance(verdict, Refused):
            detail = verdict.reason if verdict.markup else escape(verdict.reason)
            return Outcome(reason="refused", request=request, detail=detail)
        # The conflicts at the new times were looked for when the request was typed (a click
        # never waits on the API); a window that opened meanwhile moves it to now instead, and
        # the confirmation then says they were not looked for again.
        looked = request.policy.get("moved_conflicts") or {}
        if looked.get("times") == _times(specs):
            conflicts = looked["found"]
        else:
            conflicts = {"conflicts_unavailable": text.NOT_LOOKED_AGAIN}
        times = {op.id: s.scheduled_at for op, s in zip(ops, specs, strict=True)}
        if not self.store.reschedule_pending(
            request_id,
            user=user,
            times=times,
            note=text.MOVED_TO_WINDOW,
            now=now,
            policy={
                **verdict.snapshot(),
                **conflicts,
                "fingerprint": self.policy.config.fingerprint,
            },
        ):
            return self._why_not(request_id)
        return Outcome(reason="ok", request=self.store.get_request(request_id))

    def _into_window(self, op: OperationRecord, now: datetime) -> datetime:
        """When a `warn` window lets this operation run: its time if inside, else the
        window's next start after it, or now if that has passed and the window is open."""
        window = self.policy.window_for(op.device_name)
        if window is None or window.when.contains(op.scheduled_at, tz=window.tz):
            return op.scheduled_at
        start = window.when.next_start(max(op.scheduled_at, now), tz=window.tz)
        if op.scheduled_at < now and window.when.contains(now, tz=window.tz):
            return now
        return start

    def send_again(self, operation_id: int, *, user: str) -> Outcome:
        """The requester's answer to "did the API create it?": send it again, now for a
        request that was for now. Its first attempt is still watched for, in case it reached
        the API after all."""
        found = self._asked_about(operation_id, user=user)
        if isinstance(found, Outcome):
            return found
        request, op = found
        if op.state != "unknown":
            return self._settled(operation_id, request)
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
        found = self._asked_about(operation_id, user=user)
        if isinstance(found, Outcome):
            return found
        request, op = found
        now = self.clock()
        if not self.store.drop_unknown(
            operation_id,
            user=user,
            now=now,
            error=text.DROPPED,
            watch_until=now + self._tuning.watch_original,
            announce=op.announce("dropped", by=user),
        ):
            return self._settled(operation_id, request)
        self._on_confirmed()
        return Outcome(reason="ok", request=self.store.get_request(request.id))

    # --- waves: Continue and Stop after a failed wave ---------------------------------------

    def continue_waves(self, value: str, *, user: str) -> Outcome:
        """A halted request's next wave goes now (that one only; those after it follow as
        usual). `value`: the button's, `<request id>:<the wave that failed>`, so that an
        older halt's button never moves a later halt on."""
        return self._on_halt(value, user=user, go_on=True)

    def stop_waves(self, value: str, *, user: str) -> Outcome:
        """A halted request ends: the devices held are never sent."""
        return self._on_halt(value, user=user, go_on=False)

    def _on_halt(self, value: str, *, user: str, go_on: bool) -> Outcome:
        request_id, _, wave_text = value.rpartition(":")
        wave = int(wave_text) if wave_text.isascii() and wave_text.isdigit() else -1
        request = self.store.get_request(request_id) if request_id else None
        if request is None or wave < 1:
            return Outcome(reason="not_found")
        refusal = self._may_steer(request, user=user)
        if refusal is not None:
            return refusal
        now = self.clock()
        if go_on:
            result = self.store.continue_waves(request_id, wave=wave, user=user, now=now)
        else:
            error = text.stopped_error(f"<@{user}>")
            result = self.store.stop_waves(request_id, wave=wave, user=user, now=now, error=error)
        current = self.store.get_request(request_id) or request
        if result in ("continued", "stopped"):
            self._on_confirmed()
            return Outcome(reason="ok", request=current)
        return Outcome(reason="waves_not_halted", request=current, detail=_wave_state(current))

    def _may_steer(self, request: RequestRecord, *, user: str) -> Outcome | None:
        """The requester may continue or stop; under a rule that needs approval, its
        approvers too (as they may approve it); nobody else."""
        if user == request.requester:
            return None
        if request.approvals_needed:
            try:
                why = self.policy.may_approve(
                    user=user, requester=request.requester, approver_sets=request.approver_sets
                )
            except GroupsUnavailable as exc:
                return Outcome(
                    reason="groups_unavailable_waves", request=request, detail=exc.reason
                )
            if why is None:
                return None
        who = [f"<@{request.requester}>"]
        if request.approvals_needed:
            named = [i for s in request.approver_sets if s is not None for i in s]
            who.append(text.mentions(named) if named else text.ANYONE_ELSE)
        return Outcome(reason="waves_not_yours", request=request, detail=" or ".join(who))

    def _asked_about(
        self, operation_id: int, *, user: str
    ) -> tuple[RequestRecord, OperationRecord] | Outcome:
        request = self.store.request_of_operation(operation_id)
        if request is None:
            return Outcome(reason="not_found")
        if request.requester != user:
            return Outcome(reason="not_yours", request=request)
        op = next(o for o in request.operations if o.id == operation_id)
        return request, op

    def _settled(self, operation_id: int, request: RequestRecord) -> Outcome:
        """Why a Send again / Drop changed nothing: the question was settled meanwhile."""
        current = self.store.request_of_operation(operation_id) or request
        op = next((o for o in current.operations if o.id == operation_id), None)
        if op is not None and op.api_id and not op.answered_by:
            return Outcome(reason="already_found", request=current, detail=op.api_id)
        return Outcome(reason="already_answered", request=current)

    def _refuse_click(self, request: RequestRecord | None, *, user: str) -> Outcome | None:
        if request is None:
            return Outcome(reason="not_found")
        if request.requester != user:
            return Outcome(reason="not_yours", request=request)
        if request.state == "pending" and request.expires_at <= self.clock():
            return self._expire(request, reason="expired")
        return None

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
