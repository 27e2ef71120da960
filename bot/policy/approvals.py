"""Other people's approval: a request the policy says needs it waits, after its requester's
confirm, for enough distinct approvers (never the requester); the last approval sends it, once,
however many clicks race; a rejection or the clock ends it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from bot import say
from bot.answers import Outcome
from bot.policy.clicks import Allowed, Clicks
from bot.policy.desk import PolicyDesk
from bot.policy.rules import Policy
from bot.ports import GroupsUnavailable
from store import RequestRecord, Store


class Approvals:
    def __init__(
        self,
        *,
        store: Store,
        policy: Policy,
        clicks: Clicks,
        desk: PolicyDesk,
        clock: Callable[[], datetime],
        on_change: Callable[[], None],
    ) -> None:
        self._store = store
        self._policy = policy
        self._clicks = clicks
        self._desk = desk
        self._clock = clock
        # A voice changes the public message, and the last one makes operations due.
        self._on_change = on_change

    def approve(self, request_id: str, *, user: str) -> Outcome:
        """One person's approval; the last one needed sends the request, once, however many
        clicks race. The requester, and anyone the policy in force does not name, are
        refused."""
        request = self._awaiting_approval(
            request_id,
            user=user,
            action="approve",
            allowed=lambda view: self._may_approve(view, user=user, action="approve"),
        )
        if isinstance(request, Outcome):
            return request
        now = self._clock()
        releases = len(request.approvals) + 1 >= request.approvals_needed
        if releases and self._desk.window_closed(request, now):
            # Moved into the window open then, it would go now, after that window closed (a
            # window that only warns would let it): it ends, as a Confirm then would.
            if not self._desk.end_window_closed(request):
                return self._not_approved(self._state(request_id), request)
            self._on_change()
            return Outcome(reason="window_closed", request=self._store.get_request(request_id))
        result = self._store.approve(
            request_id, user=user, now=now, run_at=now if request.immediate else None
        )
        current = self._store.get_request(request_id) or request
        if result == "approved":
            self._on_change()
            return Outcome(reason="ok", request=current)
        if result == "counted":
            self._on_change()  # the public message shows the new count
            detail = f"{len(current.approvals)} of {current.approvals_needed}"
            return Outcome(reason="approval_counted", request=current, detail=detail)
        return self._not_approved(result, current)

    def reject(self, request_id: str, *, user: str) -> Outcome:
        """Anyone who may approve may reject, and the requester may withdraw (a mistake seen
        after the Confirm): nothing is sent."""
        request = self._awaiting_approval(
            request_id,
            user=user,
            action="reject",
            allowed=lambda view: (
                None
                if user == view.requester
                else self._may_approve(view, user=user, action="reject")
            ),
        )
        if isinstance(request, Outcome):
            return request
        withdrawn = user == request.requester
        result = self._store.reject(
            request_id,
            user=user,
            now=self._clock(),
            error=say.policy.WITHDRAWN if withdrawn else say.policy.REJECTED_ERROR,
        )
        current = self._store.get_request(request_id) or request
        if result == "rejected":
            self._on_change()
            return Outcome(reason="ok", request=current)
        return self._not_approved(result, current)

    def expire(self) -> list[str]:
        """Requests nobody approved in time end, each said in its thread."""
        ended = self._store.expire_approvals(now=self._clock(), error=say.policy.APPROVAL_EXPIRED)
        if ended:
            self._on_change()
        return ended

    def _awaiting_approval(
        self, request_id: str, *, user: str, action: str, allowed: Allowed
    ) -> RequestRecord | Outcome:
        """The request, waiting for approval, as the policy file in force sees it at the click
        (the approvers it names, how many), when `allowed` lets this person click; else why
        the click changes nothing. An Approve keeps the new file's verdict (which may find no
        more approvals needed: it goes); a Reject never sends anything."""
        request = self._store.get_request(request_id)
        if request is None:
            return Outcome(reason="not_found")
        expires = request.approval_expires_at
        if request.state == "approving" and expires is not None and expires <= self._clock():
            self.expire()
            return Outcome(reason="approval_expired", request=request)
        if request.state != "approving":
            return self._not_approved(request.state, request)
        current = self._clicks.as_judged_now(
            request, user=user, action=action, forward=action == "approve", allowed=allowed
        )
        if isinstance(current, Outcome):
            return current
        if current.state == "confirmed":
            return Outcome(reason="approval_not_needed", request=current)
        if current.state != "approving":
            return self._not_approved(current.state, current)
        return current

    def _may_approve(self, request: RequestRecord, *, user: str, action: str) -> Outcome | None:
        """None when `user` may approve or reject this request; else the refusal, audited."""
        try:
            why = self._policy.may_approve(
                user=user, requester=request.requester, approver_sets=request.approver_sets
            )
        except GroupsUnavailable as exc:
            why, detail = "groups_unavailable", exc.reason
        else:
            if why is None:
                return None
            named = [i for s in request.approver_sets if s is not None for i in s]
            detail = say.policy.mentions(named) if named else say.policy.ANYONE_ELSE
        reason = why if why == "groups_unavailable" else f"approve_{why}"
        return self._clicks.refused(request, user=user, action=action, reason=reason, detail=detail)

    def _state(self, request_id: str) -> str:
        current = self._store.get_request(request_id)
        return current.state if current is not None else "not_found"

    @staticmethod
    def _not_approved(result: str, request: RequestRecord) -> Outcome:
        """Why an Approve or Reject changed nothing."""
        reason = {
            "again": "approved_already",
            "expired": "approval_expired",
            "not_found": "not_found",
        }.get(result, f"already_{result}")
        return Outcome(reason=reason, request=request)
