"""Confirm and track: the confirmation, the request's public message and its thread, what many
operations share said once, and the answers to a click.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.say.common import every, or_list, plural
from bot.say.policy import WINDOW_CLOSED
from bot.say.time import span

# --- the confirm → track flow ---------------------------------------------------------------

CONFIRM = "Confirm"
CANCEL = "Cancel"
WHEN_NOW = "*When:* now, as soon as you confirm."
SENDING = "sending to the API…"
NOT_SCHEDULED = "not scheduled"


def when_line(*, local: str, tz: str, utc: str, delta: str) -> str:
    return f"*When:* {local} ({tz}) · {utc} · {delta}"


def confirm_heading(typed: str, count: int, devices: int, *, dry_run: bool = False) -> str:
    if count == 1:
        what = "this operation"
    elif count == devices:
        what = f"these {count} operations (one per device)"
    else:
        what = f"these {count} operations (on {plural(devices, 'device')})"
    if dry_run:
        return f"*Dry run: {what} would be asked of you.* You wrote: _{typed}_"
    return f"*Please confirm {what}.* You asked: _{typed}_"


def and_more(count: int) -> str:
    return f"…and {count} more."


def confirmation_footer(request_id: str, valid_minutes: int) -> str:
    return (
        "Nothing is sent to the API until you click Confirm. "
        f"Request `{request_id}`, valid {valid_minutes} min."
    )


def status_heading(*, requester: str, confirmer: str | None, typed: str) -> str:
    who = (
        f"{requester} asked"
        if confirmer in (None, requester)
        else (f"{requester} asked, {confirmer} confirmed")
    )
    return f"*Ops request* · {who}: _{typed}_"


def scheduled_for(when: str, immediate: bool) -> str:
    return f"*When:* now ({when})" if immediate else f"*When:* {when}"


OUTCOME_UNKNOWN = "outcome unknown"


def status_counts(total: int, counts: str) -> str:
    return f"*{total:,} operations:* {counts}"


def progress(*, done: int, total: int, request_id: str) -> str:
    state = "all finished" if done == total else f"{done} of {total} finished"
    return f"{state} · updates in this thread · request `{request_id}`"


def submitted(*, device: str, api_id: str, when: str, duration: int | None) -> str:
    line = f"📅 {device}: scheduled as `{api_id}` for {when}"
    if duration:
        line += f", expected to take about {span(duration)}"
    return line + "."


def status_changed(*, icon: str, api_id: str, device: str, status: str) -> str:
    return f"{icon} `{api_id}` on {device} is now *{status}*"


CLICK_REFUSALS = {
    "not_found": "That request does not exist (any more). Start again with `/ops`.",
    "not_yours": "Only {requester} can confirm or cancel this request. "
    "Ask them, or make your own with `/ops`.",
    "expired": "This request expired before it was confirmed; nothing was sent. "
    "Ask again with `/ops`.",
    "too_late": "The time you asked for has passed while this waited, so nothing was sent. "
    "Ask again with a new time, e.g. `/ops reboot server-01 in 10 minutes`.",
    "window_closed": WINDOW_CLOSED,
    "already_confirmed": "This request was already confirmed; follow it in its thread.",
    "already_cancelled": "This request was cancelled; nothing was sent.",
    "already_expired": "This request expired; nothing was sent. Ask again with `/ops`.",
    "already_pending": "That click was not taken, so nothing was sent; click Confirm again if "
    "you still want it.",
    "already_found": "Nothing to choose any more: the API's list showed it meanwhile, as "
    "`{detail}`, and it is followed in the thread.",
    "already_answered": "This was already answered; the thread says what happened.",
    "too_late_to_resend": "The time this operation was for has passed while its outcome was "
    "unknown, so it is not sent again: ask again with a new time, or Drop it.",
    "approve_own": "You asked for this yourself, so someone else must approve it.",
    "approve_not_approver": "Only {detail} may approve or reject this request.",
    "approved_already": "Your approval is already counted; it needs others' now.",
    "approval_expired": "This request was not approved in time, so nothing was sent. Ask "
    "again with `/ops` if it is still needed.",
    "approval_counted": "👍 Your approval is counted ({detail}).",
    "already_approving": "This request waits for approval; its Confirm was already clicked.",
    "already_rejected": "This request was rejected; nothing was sent.",
    "groups_unavailable": "I could not check whether you may approve, so nothing was done: "
    "{detail}",
    "policy_changed": "The policy changed since you asked, so nothing was sent: ask again "
    "with `/ops` to see what it says now.",
    "nothing_to_move": "Every operation of this request is already in its window.",
    "refused": "{detail}",
    "waves_not_yours": "Only {detail} may continue or stop this request.",
    "waves_not_halted": "This request is not halted (any more): {detail}. Its thread says "
    "what happened.",
    "groups_unavailable_waves": "I could not check whether you may continue or stop this "
    "request, so nothing was done: {detail}",
    "outside_not_yours": "Only {detail} may move or drop what waits outside its window.",
    "groups_unavailable_outside": "I could not check whether you may move or drop this, so "
    "nothing was done: {detail}",
    "nothing_outside": "Nothing of this request waits outside its window any more: its thread "
    "says what happened.",
    "groups_unavailable_click": "I could not check what the policy in force says of this "
    "request, so nothing was done: {detail}",
    "policy_refused": "{detail}",
    "approval_not_needed": "The policy in force asks for no more approvals of this request, "
    "so it goes without yours.",
    "not_yours_to_answer": "Only {requester} can answer this question about their operation.",
}


def click_refusal(reason: str, *, requester: str = "the requester", detail: str = "") -> str:
    template = CLICK_REFUSALS.get(reason, "Nothing was done: {reason}.")
    return template.format(requester=requester, detail=detail, reason=reason).strip()


CANCELLED = "Cancelled: nothing was sent to the API."


def confirmed_awaiting(needed: int) -> str:
    count = "an approval" if needed == 1 else f"{needed} approvals"
    return (
        f"✅ Confirmed. It now waits for {count} on its public message; nothing is sent until then."
    )


def vote_answer(*, approve: bool, withdrawn: bool) -> str:
    """The private answer to an Approve or Reject that was taken."""
    if approve:
        return "✅ Approved. Follow it in the thread."
    if withdrawn:
        return "↩️ Withdrawn: nothing will be sent."
    return "🚫 Rejected: nothing will be sent."


CONFIRMED = "✅ Confirmed. Follow it in the thread of the request's public message."


def no_such_operation(operation_id: str) -> str:
    return f"No operation `{operation_id}` was found. `/ops list` shows what is scheduled."


NO_TZ = "Your Slack profile has no time zone, so times are read in UTC."
TZ_UNAVAILABLE = (
    "I could not read your time zone from Slack just now, so times are read in UTC this once. "
    "Name a zone to be sure, e.g. at 14:00 Europe/Madrid."
)


def device_respelled(typed: str, spelled: str) -> str:
    return f"{typed} is spelled {spelled} in the API; using that."


def device_unseen(name: str, close: Sequence[str]) -> str:
    if close:
        return (
            f"I have not seen a device called {name} in the API's list: "
            f"did you mean {or_list(list(close))}? Check before you confirm."
        )
    return (
        f"I have not seen a device called {name} in the API's list; check the name before you "
        "confirm (the API refuses a device it does not hold)."
    )


def name_unseen(
    what: str, name: str, close: Sequence[str], retyped: str | None, *, dry_run: bool = False
) -> str:
    """A service (`what`) typed that has never run here, close to ones that have: asked about,
    never replaced; `retyped` is the request naming the known one, when it can be written (a
    dry run has nothing to cancel)."""
    asked = f"I have not seen a {what} called {name} run here: did you mean {or_list(list(close))}?"
    if retyped:
        then = "type" if dry_run else "cancel this and type"
        return f"{asked} For {close[0]}, {then} `/ops {retyped}`."
    return f"{asked} Check before you confirm."


# A click or a command while the bot's database does not answer (PostgreSQL down or out of
# reach): the click was acknowledged, nothing of it was kept, and doing it again is safe.
DATABASE_UNAVAILABLE = (
    "My database is not answering right now, so I could not handle that. Try again in a "
    "moment: sending the same command or clicking the same button again is safe, it is never "
    "done twice."
)

INTERNAL_ERROR = (
    "Something went wrong on my side while handling that. Before trying again, check "
    "`/ops list` to see whether it reached the API; if this keeps happening, tell an admin "
    "(the bot's log has the details)."
)

# --- what many operations share, said once (messages within Slack's limits) --------------


def operation_on(what: str, devices: int) -> str:
    return f"*{what}* on {plural(devices, 'device')}"


def shared_parameters(params: str, count: int, *, per_device: bool) -> str:
    """What every operation of a request has, shown once rather than on each line."""
    noun = "device" if per_device else "operation"
    return f"*Parameters ({every(count, noun)}):* {params}"


EACH_DEVICE = "*On each device:*"
PER_OPERATION = "*Per operation:*"
NO_PARAMETERS = "no parameters"


def variant_on(what: str, devices: str) -> str:
    return f"• {what} on {devices}"


def more_items(count: int) -> str:
    """Closes a list shown in part: `[a, b, …and 60 more]`."""
    return f"…and {count} more"


CUT_TO_FIT = "✂️ Part of this message was left out: Slack limits how long a message can be."


# What the store records when the bot died while a create call was in flight.
STOPPED_WHILE_SENDING = "The bot stopped while sending this operation."
# ... and when its database stopped answering before the API's answer could be kept.
DATABASE_LOST_WHILE_SENDING = (
    "The bot's database stopped answering while this operation was being sent."
)
