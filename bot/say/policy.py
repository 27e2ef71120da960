"""Policy: who may ask (Slack user groups), approvals, maintenance windows, freezes, the same
judged again when the bot acts, and the policy file.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.say.common import and_list, or_list, plural, quote

# --- who is in a Slack user group (S…) -------------------------------------------------------


def group_unknown(group_id: str) -> str:
    return (
        f"Slack does not know the user group {group_id} (or it is disabled), so I cannot tell "
        "who is in it: an admin should check the policy file."
    )


def groups_not_allowed(group_id: str) -> str:
    return (
        f"I may not read who is in the user group {group_id}: my Slack app needs the "
        "usergroups:read scope. An admin must add it and reinstall the app."
    )


def groups_not_on_plan(group_id: str) -> str:
    return (
        f"This Slack workspace has no user groups (a paid plan's feature), so I cannot tell who "
        f"is in {group_id}: an admin should name people in the policy file instead."
    )


def groups_busy(group_id: str) -> str:
    return (
        f"Slack asked me to slow down, so I could not check who is in the user group "
        f"{group_id}. Try again in a minute."
    )


def groups_unreachable(group_id: str) -> str:
    return (
        f"I could not ask Slack who is in the user group {group_id} just now. "
        "Try again in a minute."
    )


def groups_token_refused(group_id: str) -> str:
    return (
        f"Slack does not accept my token, so I could not check who is in the user group "
        f"{group_id}: an admin must fix the bot's Slack token."
    )


def groups_refused(group_id: str, error: str) -> str:
    return f"Slack would not tell me who is in the user group {group_id} (it said {error})."


# --- policy: access, approvals, windows, freezes ------------------------------------------


def mention(slack_id: str) -> str:
    """A user, a user group or a channel, as Slack shows it (ids from the policy file)."""
    if slack_id.startswith("S"):
        return f"<!subteam^{slack_id}>"
    if slack_id[:1] in ("C", "G"):
        return f"<#{slack_id}>"
    return f"<@{slack_id}>"


def mentions(ids: Sequence[str], *, joined: str = "or") -> str:
    shown = [mention(i) for i in ids]
    return or_list(shown) if joined == "or" else and_list(shown)


def policy_refusal(why: str, who: Sequence[str], *, needed: int = 0) -> str:
    """Mrkdwn: the ids come from the policy file, never from what was typed."""
    if why == "unapprovable":
        count = "an approval" if needed == 1 else f"{needed} approvals"
        able = f"only {mentions(who, joined='and')} could" if who else "nobody besides you could"
        return (
            f"Nobody could ever approve this: it needs {count} from people every rule that "
            f"covers it names, and {able}. Ask for the devices in separate requests, or ask an "
            "admin to change the policy."
        )
    if why == "channel":
        return (
            f"Operations are not requested in this channel: ask in {mentions(who)}."
            if who
            else "Operations are not requested in this channel."
        )
    if why == "requester":
        return f"You are not among those who may request operations: ask {mentions(who)}."
    return f"Only {mentions(who)} may request this on these devices: ask one of them."


def groups_unavailable(reason: str) -> str:
    return f"I could not check who may do this, so I did nothing: {reason}"


def not_admin(admins: Sequence[str]) -> str:
    if not admins:
        return "Nobody may freeze or unfreeze: the policy file names no admins ([access] admins)."
    return f"Only {mentions(admins)} may freeze or unfreeze."


def frozen_refusal(device: str, *, by: str, reason: str, until: str | None) -> str:
    """Mrkdwn; `device` and `reason` escaped by the caller."""
    end = f" until {until}" if until else " until an admin lifts it (`/ops unfreeze`)"
    return f"`{device}` is frozen by <@{by}>{end}: {reason}. Nothing was scheduled."


FREEZE_EXAMPLE = "freeze server-01, db-* for 2h database migration"
FREEZE_NEEDS_REASON = "Say why you freeze, after the devices and the time, so people know."
FREEZE_BAD_DURATION = (
    "I could not read how long the freeze lasts: say `for 30m`, `for 2h` or `for 1d` "
    "(at most 30 days)."
)
FREEZE_BAD_UNTIL = (
    "I could not read when the freeze ends: say `until 18:00` or `until monday 08:00`."
)
FREEZE_NO_LENGTH = "A freeze of no time at all freezes nothing: say how long, like `for 2h`."


def freeze_too_long(length: str, days: int) -> str:
    """`length` as typed (`45d`, `in 6 weeks`)."""
    return (
        f"A freeze lasts at most {days} days, and {quote(length)} is longer: say a shorter "
        f"time, like `for {days}d`, or leave the end out to freeze until `/ops unfreeze`."
    )


def freeze_bad_device(name: str) -> str:
    return f"{quote(name)} cannot be a device name or pattern (letters, digits, . _ - * ?)."


def nothing_frozen(devices: Sequence[str] | None) -> str:
    """Mrkdwn: `devices` as typed, escaped and marked as code by the caller (`server-*` is
    no emphasis)."""
    if devices is None:
        return "Nothing is frozen."
    return f"No freeze names {or_list(list(devices))}; `/ops unfreeze` lifts all."


UNFREEZE_EXAMPLE = "unfreeze server-01"
PLAN_NEEDS_OPERATION = "`plan` shows what an operation would do: write one after it."
PLAN_EXAMPLE = "plan reboot server-01 at 14:00"
MOVED_TO_WINDOW = "Moved into the maintenance window."
MOVED_INTO_OPEN_WINDOW = (
    "Moved into the maintenance window open now: it runs when you confirm, if the window is "
    "still open then."
)
# Moved into the window open then, it would go (confirmed, approved, a freeze's end) after the
# window closed: the person who clicked, and the thread, are told this.
WINDOW_CLOSED = (
    "The maintenance window this was moved into has closed while it waited, so nothing was "
    "sent. Ask again: the confirmation offers the next window."
)
# Its operations' error (plain text, escaped where shown).
WINDOW_CLOSED_ERROR = "the maintenance window it was moved into had closed"


def window_closed_line(requester: str) -> str:
    """Mrkdwn: `requester` a mention."""
    return f"⌛ {requester}: {WINDOW_CLOSED}"


BEING_SENT = "being sent as the freeze came"
NO_ID_YET = "no id yet"
APPROVAL_EXPIRED = "not approved in time"


# An operation's error when its request ends before approval: plain text (it is escaped like
# any error where it is shown; who did it is on the message's approval line).
REJECTED_ERROR = "rejected"
WITHDRAWN = "withdrawn by the requester"


def outside_window_refusal(device: str, *, when: str, tz: str, next_start: str) -> str:
    return (
        f"{device} may only be worked on in its maintenance window ({when}, {tz}), and this "
        f"time is outside it. The next window starts {next_start}."
    )


# --- judged again when the bot acts: the window and the file in force at the moment ----------


def outside_at_send(*, devices: str, count: int, window: str, at: str, next_start: str) -> str:
    """The question in the thread: what waits outside a window that blocks, and why."""
    waits = "it waits" if count == 1 else f"{count} operations wait"
    return (
        f"⏸️ {devices} would now run at {at}, outside the maintenance window ({window}) where "
        f"the policy blocks operations, so {waits} here, unsent. The next window starts "
        f"{next_start}."
    )


def outside_choice(who: str) -> str:
    return (
        f"Move it into the next window, or drop it? {who} can choose. Nothing is sent until then."
    )


def outside_moved(*, who: str, count: int) -> str:
    what = "its operation waiting" if count == 1 else f"the {count} operations waiting"
    return f"↪️ {who} moved {what} outside the window into the maintenance window."


def outside_dropped(*, who: str, count: int) -> str:
    what = "its operation waiting" if count == 1 else f"the {count} operations waiting"
    if not who:
        return (
            f"🗑️ Nobody moved or dropped {what} outside the window within a day: never sent. "
            "Ask again with `/ops` if it is still needed."
        )
    return f"🗑️ {who} dropped {what} outside the window: never sent."


OUTSIDE_UNANSWERED = "kept outside its maintenance window, and not moved within a day"


def outside_warned(*, device: str, window: str, at: str) -> str:
    return (
        f"⚠️ {device} runs at {at}, outside its maintenance window ({window}): sent all the "
        "same, as the policy only warns there."
    )


def approval_needed_now(*, device: str, window: str, at: str) -> str:
    return (
        f"🔐 {device} would now run at {at}, outside its maintenance window ({window}) where "
        "the policy asks for an approval: nothing more is sent until someone approves it "
        "(Approve above)."
    )


def approval_needed_by_file(*, needed: int, count: int, why: str) -> str:
    want = "an approval" if needed == 1 else f"{needed} approvals"
    has = "none" if not count else f"{count}"
    return (
        f"📜 The policy file changed since this request was judged: under the one in force it "
        f"needs {want}{f' ({why})' if why else ''} and has {has} that count. Nothing more is "
        "sent until then."
    )


def approved_by_file(*, needed: int) -> str:
    if not needed:
        return (
            "📜 The policy file changed since this request was judged: the one in force asks "
            "for no approval of it, so it goes."
        )
    want = "an approval" if needed == 1 else f"{needed} approvals"
    return (
        f"📜 The policy file changed since this request was judged: the one in force asks for "
        f"{want}, and it has them, so it goes."
    )


def policy_refused_now(reason: str) -> str:
    """Mrkdwn: `reason` is the policy's own refusal (ids from the file)."""
    return (
        f"⛔ The policy file in force no longer allows this request: {reason} Nothing more of "
        "it is sent."
    )


MOVED_ANSWER = "↪️ Moved into the maintenance window: it goes then. Follow it in the thread."
DROPPED_ANSWER = "🗑️ Dropped: what waited outside its window is never sent."
OUTSIDE_WINDOW = "outside its window"
DROPPED_OUTSIDE = "dropped outside its maintenance window"


DRY_RUN_FOOTER = (
    "Dry run: nothing was recorded or sent. Type the command without `plan` to ask for it."
)
WAITING_FOR_APPROVAL = "waiting for approval"
HELD_BY_FREEZE = "held by a freeze"
ANYONE_ELSE = "anyone allowed to request, except the requester"


def approvers_in_every(lists: Sequence[str]) -> str:
    """`a or b`, or, when several rules apply, someone who is in each of their lists."""
    if len(lists) == 1:
        return lists[0]
    return " who is also ".join(f"one of {one}" if " or " in one else one for one in lists)


APPROVE = "Approve"
REJECT = "Reject"
MOVE_EACH = "Move each into its next window"
EVERY_DEVICE = "every device"


def move_to(local: str, tz: str) -> str:
    return f"Move to {local} {tz}"


def move_now(until: str, tz: str) -> str:
    """The button that runs a request in the window open now, when confirmed."""
    return f"Move to now (open until {until} {tz})"


def move_yours(clock: str) -> str:
    return f" ({clock} yours)"


def needs_approval(*, approvers: str, needed: int, within: str) -> str:
    count = "an approval" if needed == 1 else f"{needed} approvals"
    return (
        f"🔐 After you confirm, this needs {count} from {approvers} (never you) before "
        f"anything is sent; without it within {within} of your confirm, it expires."
    )


def in_window(*, device: str, window: str) -> str:
    return f"🕐 {device}: in its maintenance window ({window})."


def outside_window(*, device: str, window: str, outside: str, next_start: str) -> str:
    what = {
        "warn": "the policy allows it, with this warning",
        "approve": "so it needs approval",
        "block": "so it may not run then",
    }.get(outside, "")
    return (
        f"⚠️ {device}: outside its maintenance window ({window}), {what}. "
        f"The next window starts {next_start}."
    )


def window_open_until(until: str) -> str:
    """After `outside_window`, when the window is open now and is the last before the time."""
    return f"It is open now, until {until}."


def approval_waiting(
    *, approvers: str, count: int, needed: int, approved: Sequence[str], until: str
) -> str:
    so_far = f" · approved by {and_list(list(approved))}" if approved else ""
    return (
        f"🔐 *Waiting for approval* by {approvers}: {count} of {needed}{so_far}. "
        f"Nothing is sent until then; it expires {until}."
    )


def _nothing_sent(went: bool) -> str:
    """What a request that ended before approval sent: nothing, or (asked for an approval
    again before its later operations went) nothing more."""
    return "nothing more was sent" if went else "nothing was sent"


def approval_rejected(rejecters: Sequence[str], *, withdrawn: bool, went: bool = False) -> str:
    if withdrawn:
        return f"↩️ *Withdrawn* by the requester: {_nothing_sent(went)}."
    return f"🚫 *Rejected* by {and_list(list(rejecters))}: {_nothing_sent(went)}."


def approval_ran_out(approved: Sequence[str], *, needed: int, went: bool = False) -> str:
    return f"⌛ *Not approved in time* ({len(approved)} of {needed}): {_nothing_sent(went)}."


def window_closed_state(*, went: bool) -> str:
    return f"⌛ *The window it was moved into closed*: {_nothing_sent(went)}."


def refused_by_policy(*, went: bool) -> str:
    return f"⛔ *Refused by the policy file in force*: {_nothing_sent(went)}."


def approved_by(approved: Sequence[str]) -> str:
    return f"✅ Approved by {and_list(list(approved))}."


def approval_counted(*, who: str, count: int, needed: int) -> str:
    return f"👍 {who} approved ({count} of {needed}); waiting for {needed - count} more."


def approval_complete(approved: Sequence[str]) -> str:
    return f"✅ Approved by {and_list(list(approved))}."


def rejected_line(who: str, *, withdrawn: bool) -> str:
    if withdrawn:
        return f"↩️ {who} withdrew this request: nothing was sent."
    return f"🚫 {who} rejected this request: nothing was sent."


def approval_expired_line() -> str:
    return (
        "⌛ Nobody approved this in time: nothing was sent. Ask again with `/ops` if it is "
        "still needed."
    )


def held(*, device: str, reason: str) -> str:
    return (
        f"⏸️ {device} is frozen ({reason}): its operation waits here, unsent, until the freeze ends."
    )


def held_many(*, reason: str) -> str:
    return (
        f"⏸️ A freeze ({reason}) holds what this request has not sent yet: it waits here, "
        "unsent, until the freeze ends (the summary above counts it)."
    )


RELEASED_MANY = "▶️ The freeze has ended: what it held of this request goes now."
# Told once for a request on several devices (the summary above carries the counts).
REQUEST_NOTICES = {
    "unreachable": "📡 I cannot reach the API to check this request's operations; still trying. "
    "The summary above shows them as last seen.",
    "reachable": "📡 Contact with the API is back: the summary above is current again.",
    "overdue": "⏰ Some of this request's operations have been running much longer than the "
    "API expected; the summary above shows how many are still running.",
}


def released(*, device: str) -> str:
    return f"▶️ The freeze on {device} has ended: sending its operation now."


def frozen(*, by: str, devices: str, until: str | None, reason: str) -> str:
    end = f"until {until}" if until else "until lifted with `/ops unfreeze`"
    return (
        f"🧊 {by} froze {devices} {end}: {reason}\n"
        "New requests for them are refused, and operations the bot has not sent yet wait."
    )


def unfrozen(*, by: str, devices: str, freezes: int = 1) -> str:
    what = "the freeze" if freezes == 1 else f"{freezes} freezes"
    return (
        f"🌤️ {by} lifted {what} on {devices}: new requests are taken, "
        "and operations that waited go now."
    )


def freeze_held(count: int) -> str:
    return (
        f"The API already holds {plural(count, 'unfinished operation')} for "
        "them, which a freeze cannot stop (the API offers no cancel): act on these elsewhere."
    )


def freeze_held_unknown(error: str) -> str:
    return f"I could not read the API's list to show what it already holds for them: {error}"


# ---------------------------------------------------------------------------- policy file


def config_refused(problems: Sequence[str]) -> str:
    """Every problem found, each already naming the file and its line or key."""
    if len(problems) == 1:
        return problems[0]
    listed = "\n".join(f"  - {problem}" for problem in problems)
    return f"{len(problems)} problems in the policy file (see docs/policy.md):\n{listed}"


def config_no_path() -> str:
    return "which policy file? Give its path, or set OPSBOT_CONFIG."


def config_valid(
    source: str,
    *,
    rules: int,
    windows: int,
    types: int,
    added: Sequence[str],
    replaced: Sequence[str],
    groups: int = 0,
    max_devices: int | None = None,
    demo: bool = False,
) -> str:
    """`demo`: the file has a [demo] table, which only `opsbot demo` reads."""
    changes = [f"{', '.join(replaced)} replaced"] if replaced else []
    changes += [f"{', '.join(added)} added"] if added else []
    told = f" ({'; '.join(changes)})" if changes else ""
    named = f", {plural(groups, 'group')} of devices" if groups else ""
    limit = f"; a request names at most {max_devices:,} devices" if max_devices else ""
    table = "; its [demo] table is read by opsbot demo only" if demo else ""
    return (
        f"{source} is valid: {plural(rules, 'rule')}, {plural(windows, 'window')}, "
        f"{plural(types, 'operation type')}{told}{named}{limit}{table}."
    )
