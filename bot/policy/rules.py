"""What the policy file says of one request: may this person ask, here, for this; who else
must approve; does its time fall in the devices' maintenance windows.

Plain values in, plain values out. Slack user groups are asked through the `Groups` port; when
it cannot answer, the bot refuses rather than guesses (`GroupsUnavailable`).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.model import OperationSpec
from bot.policy.config import OPEN_POLICY, PolicyConfig
from bot.policy.groups import StaticGroups
from bot.policy.tables.rules import APPROVAL_PEER, DEFAULT_EXPIRES, Rule
from bot.policy.tables.windows import OUTSIDE_APPROVE, OUTSIDE_BLOCK, Window
from bot.ports import Groups, is_group
from bot.understand.catalog import OperationKind


def matches(name: str, globs: Sequence[str] | None) -> bool:
    """Device globs are compared ignoring case, as device names are."""
    return globs is None or any(fnmatch.fnmatchcase(name.lower(), g.lower()) for g in globs)


def _every_device(globs: Sequence[str] | None) -> bool:
    """Whether globs surely cover every device: none given, or one of only stars (people write
    `devices = ["*"]` to mean all, and help must then hide what the rule keeps from them)."""
    return globs is None or any(g and set(g) == {"*"} for g in globs)


@dataclass(frozen=True, kw_only=True)
class Approval:
    """Others must approve before anything is sent: `needed` distinct people, each allowed
    by every list in `approver_sets` (None in it: anyone allowed to request), never the
    requester, within `expires` of the requester's confirm."""

    needed: int
    approver_sets: tuple[tuple[str, ...] | None, ...]
    expires: timedelta
    why: tuple[str, ...]  # "rule 2", "outside the window"


@dataclass(frozen=True, kw_only=True)
class WindowCheck:
    """Where one operation's time falls against its device's first matching window."""

    seq: int
    device_name: str
    window: Window
    inside: bool
    next_start: datetime | None  # outside: the window's next start (UTC)
    # Outside, while the window is open now and is the last before its time: when it closes.
    open_until: datetime | None = None

    @property
    def blocked(self) -> bool:
        return not self.inside and self.window.outside == OUTSIDE_BLOCK


@dataclass(frozen=True, kw_only=True)
class Verdict:
    approval: Approval | None
    windows: tuple[WindowCheck, ...]

    @property
    def outside(self) -> tuple[WindowCheck, ...]:
        return tuple(w for w in self.windows if not w.inside)

    @property
    def blocked(self) -> tuple[WindowCheck, ...]:
        return tuple(w for w in self.windows if w.blocked)

    def snapshot(self) -> dict[str, Any]:
        """As kept with the request (JSON): what its confirmation, its public message and
        its confirm click need to know."""
        approval = self.approval
        return {
            "approval": None
            if approval is None
            else {
                "needed": approval.needed,
                "approver_sets": [None if s is None else list(s) for s in approval.approver_sets],
                "expires": approval.expires.total_seconds(),
                "why": list(approval.why),
            },
            "windows": [
                {
                    "seq": c.seq,
                    "device": c.device_name,
                    "inside": c.inside,
                    "when": c.window.when.text,
                    "tz": c.window.tz,
                    "outside": c.window.outside,
                    "next_start": c.next_start.isoformat() if c.next_start else None,
                    **({"open_until": c.open_until.isoformat()} if c.open_until else {}),
                }
                for c in self.windows
            ],
        }


class PolicyRefused(Exception):
    """The policy says no. `reason` names who can (the channels, the group)."""

    def __init__(self, why: str, *, who: tuple[str, ...] = (), needed: int = 0) -> None:
        super().__init__(why)
        self.why = why  # "channel" | "requester" | "rule" | "unapprovable"
        self.who = who
        self.needed = needed


class Policy:
    def __init__(self, *, config: PolicyConfig = OPEN_POLICY, members: Groups | None = None):
        self.config = config
        self._members = members or StaticGroups({})

    # --- who may ask ----------------------------------------------------------------------

    def channel_allowed(self, channel: str | None) -> bool:
        allowed = self.config.access.channels
        return allowed is None or (channel is not None and channel in allowed)

    def may_request(self, user: str) -> bool:
        allowed = self.config.access.requesters
        return allowed is None or self._members.is_member(user, allowed)

    def is_admin(self, user: str) -> bool:
        admins = self.config.access.admins
        return bool(admins) and self._members.is_member(user, admins)

    def kinds_for(self, user: str) -> tuple[OperationKind, ...]:
        """The operation kinds this person may request somewhere (for help and the form).
        A kind is hidden only when every rule that could cover it names other requesters."""
        kinds = self.config.catalog.kinds
        if not self.may_request(user):
            return ()
        return tuple(k for k in kinds if self._kind_open_to(k.operation_type, user))

    def _kind_open_to(self, operation_type: str, user: str) -> bool:
        for rule in self.config.rules:
            if rule.operations is not None and operation_type not in rule.operations:
                continue
            if rule.requesters is None or self._members.is_member(user, rule.requesters):
                return True
            if _every_device(rule.devices):
                return False  # covers every device of this type, and not for this person
        return True

    # --- one request ----------------------------------------------------------------------

    def rule_for(self, spec: OperationSpec) -> Rule | None:
        for rule in self.config.rules:
            if rule.operations is not None and spec.operation_type not in rule.operations:
                continue
            if matches(spec.device_name, rule.devices):
                return rule
        return None

    def window_for(self, device_name: str) -> Window | None:
        return next((w for w in self.config.windows if matches(device_name, w.devices)), None)

    def judge(
        self,
        *,
        requester: str,
        channel: str | None,
        specs: Sequence[OperationSpec],
        now: datetime | None = None,
    ) -> Verdict:
        """Raises PolicyRefused when this person may not ask for this here; else what it needs
        (its windows judged at `now`, if given, too: whether one is open then)."""
        access = self.config.access
        if not self.channel_allowed(channel):
            raise PolicyRefused("channel", who=access.channels or ())
        if not self.may_request(requester):
            raise PolicyRefused("requester", who=access.requesters or ())
        sets: list[tuple[str, ...] | None] = []
        needed, expires, why = 0, DEFAULT_EXPIRES, []
        seen_rules: set[int] = set()
        for spec in specs:
            rule = self.rule_for(spec)
            if rule is None:
                continue
            if rule.requesters is not None and not self._members.is_member(
                requester, rule.requesters
            ):
                raise PolicyRefused("rule", who=rule.requesters)
            if rule.approval == APPROVAL_PEER and id(rule) not in seen_rules:
                seen_rules.add(id(rule))
                # No approvers named: anyone allowed to request what the rule covers.
                sets.append(rule.approvers if rule.approvers is not None else rule.requesters)
                needed = max(needed, rule.approvals)
                expires = min(expires, rule.expires) if why else rule.expires
                why.append(f"rule at line {rule.line}" if rule.line else "a rule")
        self._check_approvable(requester, sets, needed)
        checks = tuple(self.window_checks(specs, now=now))
        if any(not c.inside and c.window.outside == OUTSIDE_APPROVE for c in checks):
            needed = max(needed, 1)
            if not sets:
                sets.append(None)
            why.append("outside the maintenance window")
        approval = (
            Approval(needed=needed, approver_sets=tuple(sets), expires=expires, why=tuple(why))
            if needed
            else None
        )
        return Verdict(approval=approval, windows=checks)

    def _check_approvable(
        self, requester: str, sets: Sequence[tuple[str, ...] | None], needed: int
    ) -> None:
        """Refuses a request nobody could ever approve: fewer people than it needs are in
        every list of approvers that applies, the requester aside (two rules naming different
        people, or a list of two that holds the requester when two are needed). A list that
        is None (anyone allowed to request) or names a group Slack cannot open is not counted
        against it: only lists of people are."""
        named = [s for s in sets if s is not None]
        if not needed or not named or any(is_group(i) for s in named for i in s):
            return
        common = set(named[0]).intersection(*named[1:]) - {requester}
        if len(common) < needed:
            raise PolicyRefused("unapprovable", who=tuple(sorted(common)), needed=needed)

    def window_checks(
        self, specs: Sequence[OperationSpec], *, now: datetime | None = None
    ) -> list[WindowCheck]:
        checks = []
        for seq, spec in enumerate(specs):
            window = self.window_for(spec.device_name)
            if window is None:
                continue
            inside = window.when.contains(spec.scheduled_at, tz=window.tz)
            checks.append(
                WindowCheck(
                    seq=seq,
                    device_name=spec.device_name,
                    window=window,
                    inside=inside,
                    next_start=None
                    if inside
                    else window.when.next_start(spec.scheduled_at, tz=window.tz),
                    open_until=None
                    if inside or now is None
                    else window.when.open_until(spec.scheduled_at, now=now, tz=window.tz),
                )
            )
        return checks

    def may_approve(
        self, *, user: str, requester: str, approver_sets: Sequence[tuple[str, ...] | None]
    ) -> str | None:
        """None when `user` may approve; else why not ("own", "not_approver")."""
        if user == requester:
            return "own"
        for allowed in approver_sets:
            if allowed is None:
                if not self.may_request(user):
                    return "not_approver"
            elif not self._members.is_member(user, allowed):
                return "not_approver"
        return None
