"""The last look before a POST, by the policy file and the clock in force then, never a verdict
remembered from when the request was typed: a frozen device's operation waits for the freeze
to end; a request judged under another file is judged again (bot/policy/desk.py); and each
operation's maintenance window is asked for the time it will run (its own, or now if that has
gone by while it waited for a person, a freeze or a wave).

Outside its window at that time: `block` keeps it here, unsent, for a person's Move into the
next window or Drop; `approve` makes its request wait for an approval it has not had; `warn`
sends it and says so in the thread (once a request), when it was inside at the confirmation."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from enum import Enum
from itertools import groupby

from bot.answers import Refused
from bot.model import format_api_time
from bot.policy import freezes
from bot.policy.desk import PolicyDesk
from bot.policy.rules import Policy
from bot.policy.tables.rules import DEFAULT_EXPIRES
from bot.policy.tables.windows import OUTSIDE_APPROVE, OUTSIDE_BLOCK, Window
from bot.ports import GroupsUnavailable
from store import ASK_OUTSIDE, OUTSIDE_WARNED, OperationRecord, RequestRecord, Store

# Asked again, after a pause, about a request whose verdict cannot be decided just now.
UNDECIDED_PAUSE = timedelta(seconds=30)


class ByWindow(Enum):
    """What an operation's window says for the moment it would run."""

    GO = "go"
    KEPT = "kept"  # outside a window that blocks: kept here, for a person's Move or Drop
    WAIT = "wait"  # outside a window that asks for approval: its request waits for one
    ENDED = "ended"  # moved into the window open then, which has closed: its request ended


class SendGate:
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
        self._undecided: dict[str, datetime] = {}  # request id → not asked again before

    def admit(self, due: Sequence[OperationRecord]) -> list[OperationRecord]:
        """Those of `due` that may be sent now, as the store has them now (a freeze's end may
        have moved an operation's time). A frozen device's operation waits, its thread told
        once, and again when it goes; one outside its window is dealt with as its window says."""
        if not due:
            return []
        now = self._clock()
        active = self._store.active_freezes(now=now)
        free = []
        for op in due:
            freeze = freezes.covering(active, op.device_name)
            if freeze is not None:
                if op.held_by != freeze.id:
                    announce = op.announce("held", freeze=freeze.id, reason=freeze.reason)
                    self._store.hold(op.id, freeze=freeze.id, now=now, announce=announce)
                continue
            if op.held_since is not None:
                self._store.unhold(op.id, now=now, announce=op.announce("released"))
            free.append(op)
        admitted: list[OperationRecord] = []
        # One look at each request (its operations as they stand now), not one an operation.
        for request_id, ops in groupby(sorted(free, key=_by_request), key=_by_request):
            request = self._as_judged_now(request_id, now)
            if request is None:
                continue
            wanted = {op.id for op in ops}
            for op in request.operations:
                if op.id not in wanted or op.state != "new" or op.held_since is not None:
                    continue
                verdict = self._by_window(op, request, now)
                if verdict in (ByWindow.WAIT, ByWindow.ENDED):
                    break  # waiting for an approval, or ended: nothing more of it goes
                if verdict is ByWindow.GO:
                    admitted.append(op)
        return sorted(admitted, key=lambda op: op.id)

    def last_look(self, op: OperationRecord) -> bool:
        """Claimed and about to be POSTed: still within its window at the moment it runs?
        A round sending many operations may cross a window's end; False: it was put aside
        (outside a window that blocks, or its request now waiting for an approval)."""
        now = self._clock()
        if self._outside(op, now) is None:
            return True
        request = self._store.get_request(op.request_id)
        return (
            request is not None and self._by_window(op, request, now, claimed=True) is ByWindow.GO
        )

    def _as_judged_now(self, request_id: str, now: datetime) -> RequestRecord | None:
        """The request, confirmed and allowed to go as the policy file in force sees it;
        None when it may not go now (refused by that file, and ended; waiting for an approval
        it now needs; or not decidable just now, asked again after a pause)."""
        if self._undecided.get(request_id, now) > now:
            return None
        request = self._store.get_request(request_id)
        if request is None or request.state != "confirmed":
            return None
        try:
            judged = self._desk.judge_again(request)
        except GroupsUnavailable:
            # Slack cannot say who is in a group just now: nothing is sent on a guess.
            self._undecided[request_id] = now + UNDECIDED_PAUSE
            return None
        self._undecided.pop(request_id, None)
        if isinstance(judged, Refused):
            self._desk.end(request, judged)
            return None
        if judged is not None:
            request = self._desk.keep(judged, release=False)
        return request if request.state == "confirmed" else None

    def _by_window(
        self, op: OperationRecord, request: RequestRecord, now: datetime, *, claimed: bool = False
    ) -> ByWindow:
        window = self._outside(op, now)
        if window is None:
            return ByWindow.GO
        start = window.when.next_start(max(op.scheduled_at, now), tz=window.tz)
        about = {
            "device": op.device_name,
            "when": window.when.text,
            "tz": window.tz,
            "at": format_api_time(max(op.scheduled_at, now)),
            "next_start": start.isoformat(),
        }
        if window.outside == OUTSIDE_BLOCK:
            self._store.park_outside(op.id, now=now, announce=op.announce(ASK_OUTSIDE, **about))
            return ByWindow.KEPT
        if window.outside == OUTSIDE_APPROVE:
            approval = request.policy.get("approval") or {}
            if request.approvals and approval.get("covers_outside"):
                return ByWindow.GO  # approved for a time outside the window
            self._store.ask_approval_for_window(
                request.id,
                needed=max(1, request.approvals_needed),
                approver_sets=request.approver_sets or (None,),
                expires_at=now + DEFAULT_EXPIRES,
                claimed=(op.id,) if claimed else (),
                about=about,
                now=now,
            )
            return ByWindow.WAIT
        if request.policy.get("moved_now"):
            # Moved into the window open then, and held (a freeze) until it closed: a window
            # that only warns would send it outside the window it was moved into.
            self._desk.end_window_closed(request, claimed=(op.id,) if claimed else ())
            return ByWindow.ENDED
        if _was_inside(request, op.device_name):
            self._store.tell_once(op.announce(OUTSIDE_WARNED, **about), now=now)
        return ByWindow.GO

    def _outside(self, op: OperationRecord, now: datetime) -> Window | None:
        """The device's window, when the moment the operation runs falls outside it."""
        window = self._policy.window_for(op.device_name)
        if window is None or window.when.contains(max(op.scheduled_at, now), tz=window.tz):
            return None
        return window


def _by_request(op: OperationRecord) -> str:
    return op.request_id


def _was_inside(request: RequestRecord, device: str) -> bool:
    """Whether the confirmation showed the device inside its window (a warning seen and
    confirmed is not told again)."""
    checks = [c for c in request.policy.get("windows", ()) if c.get("device") == device]
    return not checks or any(c.get("inside") for c in checks)
