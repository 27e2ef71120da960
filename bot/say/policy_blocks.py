"""Policy, in Block Kit: what the policy says of a request before the click, the approval part
of its public message, what the policy in force says when the bot acts (and the question to
Move or Drop), and freezes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from bot import say
from bot.answers import (
    Frozen,
)
from bot.model import parse_api_time
from bot.say.common import escape
from bot.say.common_blocks import (
    ACTION_APPROVE,
    ACTION_DROP_OUTSIDE,
    ACTION_MOVE_OUTSIDE,
    ACTION_REJECT,
    DEVICES_SHOWN,
    ERROR_SHOWN,
    MAX_SECTION_TEXT,
    NAME_SHOWN,
    NOTES_SHOWN,
    VARIANT_SHOWN,
    Blocks,
    button,
    context,
    device_code,
    device_codes,
    escaped,
    fit,
    fit_lines,
    joined,
    section,
    slack_time,
)
from bot.say.lists_blocks import listed
from bot.understand.when import both_times, local_time, zone_for
from store import (
    APPROVAL_NEEDED,
    ASK_OUTSIDE,
    OUTSIDE,
    OUTSIDE_DROPPED,
    OUTSIDE_MOVED,
    OUTSIDE_WARNED,
    POLICY_REFUSED,
    WINDOW_CLOSED,
    Freeze,
    OutboxEvent,
    RequestRecord,
)

# --- the policy: approvals, windows, freezes -----------------------------------------------

APPROVAL_EVENTS = frozenset({"approved", "rejected", "approval_expired"})


def policy_lines(request: RequestRecord) -> Blocks:
    """What the policy said of a request, for its requester before the click."""
    policy = request.policy
    lines = []
    approval = policy.get("approval")
    if approval:
        lines.append(
            say.policy.needs_approval(
                approvers=_approvers(request.requester, approval.get("approver_sets") or []),
                needed=int(approval["needed"]),
                within=say.time.span(int(approval["expires"])),
            )
        )
    for check in policy.get("windows", ()):
        device = f"`{escape(check['device'])}`"
        window = f"{escape(check['when'])}, {escape(check['tz'])}"
        if check["inside"]:
            lines.append(say.policy.in_window(device=device, window=window))
        else:
            start = datetime.fromisoformat(check["next_start"])
            line = say.policy.outside_window(
                device=device,
                window=window,
                outside=check["outside"],
                next_start=both_times(start, window_tz=check["tz"], tz=request.tz),
            )
            if check.get("open_until"):
                until = datetime.fromisoformat(check["open_until"])
                shown = both_times(until, window_tz=check["tz"], tz=request.tz)
                line += " " + say.policy.window_open_until(shown)
            lines.append(line)
    lines.extend(_conflict_lines(policy))
    shown, rest = fit_lines(lines, 3, budget=NOTES_SHOWN * 2)
    if rest:
        shown.append(say.track.and_more(rest))
    return [section(chunk) for chunk in shown]


def _conflict_lines(policy: dict[str, Any]) -> list[str]:
    conflicts = policy.get("conflicts") or []
    lines = []
    if conflicts:
        lines.append(say.preflight.conflicts_heading(len(conflicts)))
        for c in conflicts:
            when = (
                say.preflight.RUNNING_NOW
                if c["running"]
                else slack_time(datetime.fromisoformat(c["scheduled_at"]))
                if c["scheduled_at"]
                else say.preflight.TIME_UNKNOWN
            )
            lines.append(
                say.preflight.conflict_line(
                    api_id=escaped(c["api_id"], NAME_SHOWN),
                    device=device_code(c["device"]),
                    operation_type=escaped(c["type"], NAME_SHOWN),
                    status=escaped(c["status"], NAME_SHOWN),
                    when=when,
                )
            )
        if policy.get("conflicts_searched"):
            lines.append(escape(say.preflight.preflight_searched(policy["conflicts_searched"])))
    if policy.get("conflicts_unavailable"):
        lines.append(f"⚠️ {escape(policy['conflicts_unavailable'])}")
    return lines


def _approvers(requester: str, approver_sets: Sequence[Sequence[str] | None]) -> str:
    """Who may approve: each list that applies (several rules: one person in all of them)."""
    named = [[i for i in s if i != requester] for s in approver_sets if s is not None]
    if not named:
        return say.policy.ANYONE_ELSE
    return say.policy.approvers_in_every([say.policy.mentions(ids) for ids in named])


def move_label(request: RequestRecord) -> str | None:
    """The button that moves a request outside its window (`warn`) into the next one, or
    into the one open now (bot/policy/desk.py `moves`)."""
    outside = [w for w in request.policy.get("windows", ()) if not w["inside"]]
    if not outside or any(w["outside"] != "warn" for w in outside):
        return None
    open_now = [w for w in outside if w.get("open_until")]
    if request.policy.get("move_runs_now") and open_now:
        first = min(open_now, key=lambda w: datetime.fromisoformat(w["open_until"]))
        until = datetime.fromisoformat(first["open_until"])
        tz = first["tz"]
        label = say.policy.move_now(until.astimezone(zone_for(tz)).strftime("%a %H:%M"), tz)
        if tz != request.tz:
            label += say.policy.move_yours(until.astimezone(zone_for(request.tz)).strftime("%H:%M"))
        return label[:75]  # Slack's limit on a button's text
    starts = {w["next_start"] for w in outside}
    if len(starts) > 1:
        return say.policy.MOVE_EACH
    start = datetime.fromisoformat(outside[0]["next_start"])
    tz = outside[0]["tz"]
    label = say.policy.move_to(local_time(start, tz), tz)
    if tz != request.tz:
        label += say.policy.move_yours(start.astimezone(zone_for(request.tz)).strftime("%H:%M"))
    return label[:75]  # Slack's limit on a button's text


def approval_blocks(request: RequestRecord) -> Blocks:
    """The public message's approval part: who may approve, how many so far, the buttons."""
    rejecters = [v.user for v in request.votes if v.verdict == "reject"]
    went = any(op.api_id for op in request.operations)
    if request.state == "rejected" and not rejecters:
        return [section(say.policy.refused_by_policy(went=went))]
    if request.state == "expired" and request.policy.get("window_closed"):
        return [section(say.policy.window_closed_state(went=went))]
    if not request.approvals_needed:
        return []
    approved = [f"<@{u}>" for u in request.approvals]
    if request.state == "approving":
        assert request.approval_expires_at is not None
        line = say.policy.approval_waiting(
            approvers=_approvers(request.requester, request.approver_sets),
            count=len(approved),
            needed=request.approvals_needed,
            approved=approved,
            until=slack_time(request.approval_expires_at),
        )
        return [
            section(line),
            {
                "type": "actions",
                "block_id": "ops_approval",
                "elements": [
                    button(say.policy.APPROVE, ACTION_APPROVE, request.id, style="primary"),
                    button(say.policy.REJECT, ACTION_REJECT, request.id),
                ],
            },
        ]
    if request.state == "rejected":
        return [
            section(
                say.policy.approval_rejected(
                    [f"<@{u}>" for u in rejecters],
                    withdrawn=request.requester in rejecters,
                    went=went,
                )
            )
        ]
    if request.state == "expired":
        return [
            section(
                say.policy.approval_ran_out(approved, needed=request.approvals_needed, went=went)
            )
        ]
    return [section(say.policy.approved_by(approved))]


def approval_event(kind: str, data: dict[str, Any], request: RequestRecord) -> str:
    who = f"<@{data['by']}>" if data.get("by") else ""
    if kind == "approved":
        count, needed = int(data.get("count") or 0), int(data.get("needed") or 0)
        if count >= needed:
            return say.policy.approval_complete(
                [f"<@{u}>" for u in request.approvals[:needed]] or [who]
            )
        return say.policy.approval_counted(who=who, count=count, needed=needed)
    if kind == "rejected":
        return say.policy.rejected_line(who, withdrawn=data.get("by") == request.requester)
    return say.policy.approval_expired_line()


# --- judged again when the bot acts: the window and the file in force at the moment --------

JUDGED_EVENTS = frozenset(
    {
        ASK_OUTSIDE,
        OUTSIDE_MOVED,
        OUTSIDE_DROPPED,
        OUTSIDE_WARNED,
        APPROVAL_NEEDED,
        POLICY_REFUSED,
        WINDOW_CLOSED,
    }
)


def judged_event(kind: str, data: dict[str, Any], request: RequestRecord) -> str:
    """What the policy in force said when an operation was about to go, or a person's answer
    to it."""
    who = f"<@{data['by']}>" if data.get("by") else ""
    window = f"{escaped(str(data.get('when') or ''), NAME_SHOWN)}, {escape(str(data.get('tz')))}"
    at = slack_time(parse_api_time(data["at"])) if data.get("at") else ""
    device = device_code(str(data.get("device") or ""))
    if kind == ASK_OUTSIDE:
        outside = [op for op in request.operations if op.state == OUTSIDE]
        names = list(dict.fromkeys(op.device_name for op in outside)) or [data.get("device", "")]
        start = datetime.fromisoformat(str(data["next_start"]))
        return say.policy.outside_at_send(
            devices=joined(device_codes([str(n) for n in names]), VARIANT_SHOWN),
            count=max(1, len(outside)),
            window=window,
            at=at,
            next_start=both_times(start, window_tz=str(data.get("tz")), tz=request.tz),
        )
    if kind == OUTSIDE_MOVED:
        return say.policy.outside_moved(who=who, count=int(data.get("count") or 0))
    if kind == OUTSIDE_DROPPED:
        return say.policy.outside_dropped(who=who, count=int(data.get("count") or 0))
    if kind == OUTSIDE_WARNED:
        return say.policy.outside_warned(device=device, window=window, at=at)
    if kind == POLICY_REFUSED:
        return say.policy.policy_refused_now(str(data.get("reason") or ""))
    if kind == WINDOW_CLOSED:
        return say.policy.window_closed_line(f"<@{request.requester}>")
    needed, count = int(data.get("needed") or 0), int(data.get("count") or 0)
    if data.get("why") == "window":
        return say.policy.approval_needed_now(device=device, window=window, at=at)
    if count >= needed:
        return say.policy.approved_by_file(needed=needed)
    rules = [escape(str(r)) for r in data.get("rules") or ()]
    return say.policy.approval_needed_by_file(
        needed=needed, count=count, why=say.common.and_list(rules)
    )


def outside_question(event: OutboxEvent, request: RequestRecord) -> Blocks:
    """Kept outside a window that blocks: why, and Move into the window or Drop, for the
    requester (and, under a rule that needs approval, its approvers)."""
    data = event.data
    outside = [op for op in request.operations if op.state == OUTSIDE]
    if len({op.device_name.lower() for op in outside}) > 1:
        label = say.policy.MOVE_EACH
    else:
        start = datetime.fromisoformat(str(data["next_start"]))
        tz = str(data.get("tz"))
        label = say.policy.move_to(local_time(start, tz), tz)
    who = " or ".join([f"<@{request.requester}>", *wave_approvers(request)])
    return fit(
        [
            section(judged_event(event.kind, event.data, request)),
            context(say.policy.outside_choice(who)),
            {
                "type": "actions",
                "block_id": "ops_outside",
                "elements": [
                    button(label[:75], ACTION_MOVE_OUTSIDE, request.id, style="primary"),
                    button(say.recovery.DROP, ACTION_DROP_OUTSIDE, request.id),
                ],
            },
        ]
    )


def wave_approvers(request: RequestRecord) -> list[str]:
    if not request.approvals_needed:
        return []
    named = [i for s in request.approver_sets if s is not None for i in s]
    return [say.policy.mentions(named)] if named else []


def frozen_text(result: Frozen) -> str:
    if result.freeze is None:
        lifted = result.lifted
        return say.policy.unfrozen(
            by=f"<@{lifted[0].lifted_by}>", devices=_frozen_devices(lifted), freezes=len(lifted)
        )
    freeze = result.freeze
    lines = [
        say.policy.frozen(
            by=f"<@{freeze.frozen_by}>",
            devices=_frozen_devices([freeze]),
            until=slack_time(freeze.until) if freeze.until else None,
            reason=escaped(freeze.reason, NOTES_SHOWN),
        )
    ]
    if result.held_unknown:
        lines.append(say.policy.freeze_held_unknown(escaped(result.held_unknown, ERROR_SHOWN)))
    elif result.held:
        lines.append(say.policy.freeze_held(len(result.held)))
        lines.extend(listed(item) for item in result.held)
    shown, rest = fit_lines(lines, 1, budget=MAX_SECTION_TEXT)
    return "\n".join([*shown, say.track.and_more(rest)] if rest else shown)


def _frozen_devices(freezes: Sequence[Freeze]) -> str:
    """What these freezes cover: each pattern or device once, as typed (`server-*` in code,
    never emphasis), a group's members in runs (`db-01..db-40` (40))."""
    every = [say.policy.EVERY_DEVICE] if any(f.devices is None for f in freezes) else []
    names = list(dict.fromkeys(d for f in freezes for d in f.devices or ()))
    pieces = [*every, *device_codes(names)]
    if sum(len(piece) + 2 for piece in pieces) <= DEVICES_SHOWN:
        return say.common.and_list(pieces)
    return joined(pieces, DEVICES_SHOWN)
