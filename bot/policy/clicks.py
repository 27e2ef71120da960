"""Who may click what on a request, judged by the policy file in force at the click (never by
the verdict kept from when the request was typed), and every refused click audited: someone
trying to move on a production reboot they may not is worth a line."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from bot import say
from bot.answers import Outcome, Refused
from bot.policy.desk import PolicyDesk
from bot.policy.rules import Policy
from bot.ports import GroupsUnavailable
from store import RequestRecord, Store

Allowed = Callable[[RequestRecord], "Outcome | None"]


class Clicks:
    def __init__(
        self,
        *,
        store: Store,
        policy: Policy,
        desk: PolicyDesk,
        clock: Callable[[], datetime],
    ) -> None:
        self._store = store
        self._policy = policy
        self._desk = desk
        self._clock = clock

    def as_judged_now(
        self,
        request: RequestRecord,
        *,
        user: str,
        action: str,
        forward: bool,
        allowed: Allowed = lambda _: None,
    ) -> RequestRecord | Outcome:
        """The request as the policy file in force sees it at this click, if `allowed` (asked
        of that view: its approvers, how many) lets `user` click; else why not.

        Nothing changes before the click is allowed, but for a request the file in force
        refuses: that one ends whoever clicks, as nothing more of it may be sent. Allowed, a
        click that moves the request on (`forward`: Approve, Continue, Send again, Move)
        keeps the new verdict, which may make it wait for more approvals or, needing no more
        than it has, send it; one that stops it (Reject, Stop, Drop) keeps nothing, and only
        stops it."""
        try:
            judged = self._desk.judge_again(request)
        except GroupsUnavailable as exc:
            return self.refused(
                request,
                user=user,
                action=action,
                reason="groups_unavailable_click",
                detail=exc.reason,
            )
        if isinstance(judged, Refused):
            said = self._desk.end(request, judged)
            ended = self._store.get_request(request.id) or request
            return self.refused(
                ended, user=user, action=action, reason="policy_refused", detail=said.reason
            )
        view = judged.request if judged is not None else request
        refusal = allowed(view)
        if refusal is not None:
            return refusal
        if judged is None or not forward:
            return view
        return self._desk.keep(judged, release=True)

    def to_steer(
        self,
        request: RequestRecord | None,
        *,
        user: str,
        action: str,
        topic: str,
        forward: bool,
    ) -> RequestRecord | Outcome:
        """The request as the file in force sees it, when `user` may move it on or stop it
        (`may_steer`); else why not."""
        if request is None:
            return Outcome(reason="not_found")
        return self.as_judged_now(
            request,
            user=user,
            action=action,
            forward=forward,
            allowed=lambda view: self.may_steer(view, user=user, action=action, topic=topic),
        )

    def may_steer(
        self, request: RequestRecord, *, user: str, action: str, topic: str
    ) -> Outcome | None:
        """None when `user` may move a confirmed request on or stop it (`topic` "waves":
        Continue, Stop; "outside": Move, Drop): its requester, or, under a rule that needs
        approval, its approvers (as they may approve it); else the refusal, audited."""
        if user == request.requester:
            return None
        if request.approvals_needed:
            try:
                why = self._policy.may_approve(
                    user=user, requester=request.requester, approver_sets=request.approver_sets
                )
            except GroupsUnavailable as exc:
                return self.refused(
                    request,
                    user=user,
                    action=action,
                    reason=f"groups_unavailable_{topic}",
                    detail=exc.reason,
                )
            if why is None:
                return None
        who = [f"<@{request.requester}>"]
        if request.approvals_needed:
            named = [i for s in request.approver_sets if s is not None for i in s]
            who.append(say.policy.mentions(named) if named else say.policy.ANYONE_ELSE)
        return self.refused(
            request, user=user, action=action, reason=f"{topic}_not_yours", detail=" or ".join(who)
        )

    def refused(
        self, request: RequestRecord, *, user: str, action: str, reason: str, detail: str = ""
    ) -> Outcome:
        """A click refused: its audit line (who, what, why) and the answer to give."""
        self._store.record_audit(
            event="click_refused",
            actor=user,
            now=self._clock(),
            request_id=request.id,
            channel=request.channel,
            detail={"action": action, "reason": reason},
        )
        return Outcome(reason=reason, request=request, detail=detail)
