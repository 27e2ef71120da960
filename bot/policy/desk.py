"""What the policy says of one request, in the words the service and its surfaces use: a
refusal a person can read, or what the request needs (approval, windows), kept with it as a
snapshot, and checked again where it runs later than it was typed."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from bot import say
from bot.answers import Refused
from bot.model import OperationSpec, Plan, format_api_time
from bot.policy import freezes
from bot.policy.rules import Policy, PolicyRefused, Verdict, WindowCheck
from bot.policy.tables.rules import DEFAULT_EXPIRES
from bot.policy.tables.windows import OUTSIDE_APPROVE
from bot.ports import GroupsUnavailable
from bot.say.common import escape
from bot.understand import preflight
from bot.understand.catalog import OperationKind
from bot.understand.preflight import OperationSearch
from bot.understand.when import both_times, local_time
from store import UNSENT, OperationRecord, RequestRecord, Store


@dataclass(frozen=True, kw_only=True)
class Rejudged:
    """A request as the policy file in force sees it (its approvers, how many, the voices
    that still count, its policy snapshot), judged but not yet kept."""

    request: RequestRecord
    judged_under: str  # the fingerprint of the file it was judged under before
    expires: timedelta  # how long a new approval may wait
    voided: tuple[str, ...]  # approvals the file in force no longer counts
    rules: tuple[str, ...]  # why it needs approval ("rule at line 14")


@dataclass(frozen=True, kw_only=True)
class Moved:
    """A pending request moved into its windows: its operations' new times and what the
    policy says of them."""

    specs: tuple[OperationSpec, ...]
    policy: dict[str, Any]
    # Into the windows open now: a request for now, run when confirmed if they still are.
    now: bool = False


class PolicyDesk:
    def __init__(
        self,
        *,
        store: Store,
        policy: Policy,
        look: OperationSearch,
        clock: Callable[[], datetime],
    ) -> None:
        self._store = store
        self._policy = policy
        # The pre-flight look before a confirmation: a client that gives up fast, since a
        # person waits for the answer (a look that fails is a note, not a refusal).
        self._look = look
        self._clock = clock

    def kinds_for(self, user: str, *, channel: str | None) -> tuple[OperationKind, ...] | Refused:
        """The operation kinds this person may request (for the form), or why none."""
        access = self._policy.config.access
        try:
            if channel is not None and not self._policy.channel_allowed(channel):
                reason = say.policy.policy_refusal("channel", access.channels or ())
                return Refused(reason=reason, example="", markup=True)
            kinds = self._policy.kinds_for(user)
        except GroupsUnavailable as exc:
            return Refused(reason=say.policy.groups_unavailable(exc.reason), example="")
        if not kinds:
            reason = say.policy.policy_refusal("requester", access.requesters or ())
            return Refused(reason=reason, example="", markup=True)
        return kinds

    def shows_admin(self, user: str) -> bool:
        """Whether help shows the admins' commands: a group that cannot be read just now
        hides them (a freeze is checked again when typed) rather than refusing the help."""
        try:
            return self._policy.is_admin(user)
        except GroupsUnavailable:
            return False

    def judge(self, plan: Plan, *, requester: str, channel: str | None) -> Verdict | Refused:
        """What the policy says of this plan, here, for this person: a refusal that names
        who can, or what it needs (approval, windows)."""
        frozen = self._store.active_freezes(now=self._clock())
        for spec in plan.operations:
            freeze = freezes.covering(frozen, spec.device_name)
            if freeze is not None:
                until = f"{local_time(freeze.until, plan.tz)} ({plan.tz})" if freeze.until else None
                reason = say.policy.frozen_refusal(
                    escape(spec.device_name),
                    by=freeze.frozen_by,
                    reason=escape(freeze.reason),
                    until=until,
                )
                return Refused(reason=reason, example="", markup=True)
        try:
            verdict = self._policy.judge(
                requester=requester, channel=channel, specs=plan.operations, now=self._clock()
            )
        except PolicyRefused as refused:
            reason = say.policy.policy_refusal(refused.why, refused.who, needed=refused.needed)
            return Refused(reason=reason, example="", markup=True)
        except GroupsUnavailable as exc:
            return Refused(reason=say.policy.groups_unavailable(exc.reason), example="")
        if verdict.blocked:
            return Refused(reason=_blocked(verdict.blocked[0], tz=plan.tz), example="")
        return verdict

    def snapshot(self, plan: Plan, verdict: Verdict) -> dict[str, Any]:
        """What is kept with the request: the verdict, the conflicts the API shows, and the
        policy file it was judged under."""
        kept = {**verdict.snapshot(), **self._conflicts(plan.operations)}
        if verdict.outside:
            # Offered a Move into the window: where it goes, and the conflicts at a later time
            # looked for now, so that the click need not wait on the API. Into the window open
            # now, they are looked for at the click: "now" is then, not when it was typed.
            times, now = self.moves(plan.operations, self._clock())
            kept["move_runs_now"] = now
            if not now:
                moved = [
                    replace(s, scheduled_at=t) for s, t in zip(plan.operations, times, strict=True)
                ]
                kept["moved_conflicts"] = {"times": _times(moved), "found": self._conflicts(moved)}
        return {**kept, "fingerprint": self._policy.config.fingerprint}

    def judged_under_this_policy(self, request: RequestRecord) -> bool:
        """False for a request judged under another policy file: it is asked for again,
        never sent on the old file's word (a restart with a stricter file, say)."""
        return request.policy.get("fingerprint", "") == self._policy.config.fingerprint

    def judge_again(
        self, request: RequestRecord, *, claimed: Sequence[int] = ()
    ) -> Rejudged | Refused | None:
        """What the policy file in force says of a request judged under another (the bot
        restarted with a stricter one), asked at every click on it and before its operations
        are sent: its operations that may still go, each at the time it would run. Nothing is
        changed here: `keep` keeps the verdict, `end` ends a request the file refuses.

        None: judged under the file in force already, or not waiting to go. Refused: the file
        in force refuses it. Raises GroupsUnavailable when nothing can be decided just now (a
        user group Slack cannot read): a check that cannot decide says no, and the caller
        asks again later. `claimed`: operations the sender took a moment ago."""
        if self.judged_under_this_policy(request) or request.state not in (
            "confirmed",
            "approving",
        ):
            return None
        now = self._clock()
        # What may still go: not sent yet, claimed a moment ago, or whose outcome is unknown
        # (a person may send it again).
        unsent = [
            op for op in request.operations if op.state in (*UNSENT, "unknown") or op.id in claimed
        ]
        specs = [replace(op.spec(), scheduled_at=max(op.scheduled_at, now)) for op in unsent]
        try:
            verdict = self._policy.judge(
                requester=request.requester, channel=request.channel, specs=specs
            )
        except PolicyRefused as refused:
            reason = say.policy.policy_refusal(refused.why, refused.who, needed=refused.needed)
            return Refused(reason=reason, example="", markup=True)
        approval = verdict.approval
        sets = approval.approver_sets if approval else ()
        voided = tuple(
            user
            for user in request.approvals
            if self._policy.may_approve(user=user, requester=request.requester, approver_sets=sets)
            is not None
        )
        policy = {**request.policy, **verdict.snapshot()}
        return Rejudged(
            request=replace(
                request,
                policy={**policy, "fingerprint": self._policy.config.fingerprint},
                approvals_needed=approval.needed if approval else 0,
                approver_sets=sets,
                votes=tuple(v for v in request.votes if v.user not in voided),
            ),
            judged_under=request.policy.get("fingerprint", ""),
            expires=approval.expires if approval else DEFAULT_EXPIRES,
            voided=voided,
            rules=approval.why if approval else (),
        )

    def keep(
        self, judged: Rejudged, *, release: bool, claimed: Sequence[int] = ()
    ) -> RequestRecord:
        """The verdict of the file in force kept with its request: needing more approvals
        than it has, it waits for them (`claimed` operations put back), its thread told why;
        waiting for approval and needing no more, it goes only if `release` (a click that
        moves it on, never one that stops it)."""
        request, now = judged.request, self._clock()
        self._store.rejudge(
            request.id,
            judged_under=judged.judged_under,
            policy=request.policy,
            needed=request.approvals_needed,
            approver_sets=request.approver_sets,
            expires_at=now + judged.expires,
            voided=judged.voided,
            claimed=claimed,
            release=release,
            rules=judged.rules,
            now=now,
        )
        return self._store.get_request(request.id) or request

    def end(self, request: RequestRecord, refused: Refused) -> Refused:
        """A request the file in force refuses sends nothing more, its thread told why.
        Returns the refusal as the person who clicked reads it."""
        self._store.refuse_by_policy(request.id, reason=refused.reason, now=self._clock())
        return Refused(
            reason=say.policy.policy_refused_now(refused.reason), example="", markup=True
        )

    def approval_at(self, request: RequestRecord, now: datetime) -> dict[str, Any] | Refused:
        """The approval the request needs, its windows read again for the time each operation
        runs: its own, or now if that has gone by (a request for now runs when confirmed, not
        when it was typed, and may have left its window meanwhile)."""
        approval = dict(request.policy.get("approval") or {})
        checks = self._policy.window_checks(
            [
                replace(op.spec(), scheduled_at=max(op.scheduled_at, now))
                for op in request.operations
            ]
        )
        blocked = next((c for c in checks if c.blocked), None)
        if blocked is not None:
            return Refused(reason=_blocked(blocked, tz=request.tz), example="")
        if any(not c.inside and c.window.outside == OUTSIDE_APPROVE for c in checks):
            if not approval:
                approval = {
                    "needed": 1,
                    "approver_sets": [None],
                    "expires": DEFAULT_EXPIRES.total_seconds(),
                }
            # Approved while its time is outside the window, it may run outside it.
            approval["covers_outside"] = True
        return approval

    def moved(self, request: RequestRecord, *, user: str) -> Moved | Refused | None:
        """The request moved into its windows (None: nothing to move), judged again."""
        now = self._clock()
        ops = request.operations
        times, into_open = self.moves([op.spec() for op in ops], now)
        specs = tuple(replace(op.spec(), scheduled_at=t) for op, t in zip(ops, times, strict=True))
        if not into_open and all(
            s.scheduled_at == max(op.scheduled_at, now) for s, op in zip(specs, ops, strict=True)
        ):
            return None  # each runs inside its window already
        plan = Plan(operations=specs, tz=request.tz, immediate=into_open)
        verdict = self.judge(plan, requester=user, channel=request.channel)
        if isinstance(verdict, Refused):
            return verdict
        # The conflicts at a later window's start were looked for when the request was typed
        # (the click need not wait on the API). Now, or a time other than the one looked at
        # (a window that opened meanwhile), they are looked for again, judged at the moment
        # the person acts: by the same quick look the typing makes (one that fails is a note).
        looked = request.policy.get("moved_conflicts") or {}
        if not into_open and looked.get("times") == _times(specs):
            conflicts = looked["found"]
        else:
            conflicts = self._conflicts(specs)
        policy = {
            **verdict.snapshot(),
            **conflicts,
            "moved_now": into_open,
            "fingerprint": self._policy.config.fingerprint,
        }
        return Moved(specs=specs, policy=policy, now=into_open)

    def moves(
        self, specs: Sequence[OperationSpec], now: datetime
    ) -> tuple[tuple[datetime, ...], bool]:
        """Where a Move puts each operation, judged for the moment it would run (its time, or
        now if that has gone by), and whether that is now. Now when every one of them is
        outside its window at its time while that window is open now, the last to open before
        it: the window the person is in, hours left, not the next one after their time. Else
        each inside its window stays, and each outside goes to its window's next start."""
        at = [max(spec.scheduled_at, now) for spec in specs]
        windows = [self._policy.window_for(spec.device_name) for spec in specs]
        if specs and all(
            w is not None and w.when.open_until(a, now=now, tz=w.tz) is not None
            for w, a in zip(windows, at, strict=True)
        ):
            return tuple(now for _ in specs), True
        return tuple(
            a if w is None or w.when.contains(a, tz=w.tz) else w.when.next_start(a, tz=w.tz)
            for w, a in zip(windows, at, strict=True)
        ), False

    def into_window(self, op: OperationRecord, now: datetime) -> datetime:
        """When its window lets this operation run, as `moves` says of it alone."""
        return self.moves([op.spec()], now)[0][0]

    def window_closed(self, request: RequestRecord, now: datetime) -> bool:
        """A request moved into the windows open then, now confirmed: has one of them closed
        meanwhile? Asked of the windows in force now, never of the end seen at the move: it
        would then run outside the window it was moved into, so it is asked again."""
        if not request.policy.get("moved_now"):
            return False
        for op in request.operations:
            window = self._policy.window_for(op.device_name)
            if window is not None and not window.when.contains(now, tz=window.tz):
                return True
        return False

    def end_window_closed(self, request: RequestRecord, *, claimed: Sequence[int] = ()) -> bool:
        """A request `window_closed` says of, about to go (its last approval, a freeze's end):
        it ends unsent, its thread told why, as a Confirm after the window closed is refused.
        False: another click or loop moved it on first."""
        return self._store.end_window_closed(
            request.id, error=say.policy.WINDOW_CLOSED_ERROR, now=self._clock(), claimed=claimed
        )

    def _conflicts(self, specs: Sequence[OperationSpec]) -> dict[str, Any]:
        found = preflight.find_conflicts(api=self._look, specs=specs, now=self._clock())
        return preflight.snapshot(found)


def _blocked(check: WindowCheck, *, tz: str) -> str:
    assert check.next_start is not None
    return say.policy.outside_window_refusal(
        check.device_name,
        when=check.window.when.text,
        tz=check.window.tz,
        next_start=both_times(check.next_start, window_tz=check.window.tz, tz=tz),
    )


def _times(specs: Sequence[OperationSpec]) -> list[str]:
    """The times a Move puts the operations at, as kept."""
    return [format_api_time(s.scheduled_at) for s in specs]
