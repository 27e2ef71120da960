"""Recovery: faults, restarts and outages; an operation whose outcome is unknown and the
question put to its requester.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from bot.say.common import and_list, every
from bot.say.time import span

# --- recovery: faults, restarts and outages -------------------------------------------------


def unsent(*, device: str, error: str, unknown: bool) -> str:
    if unknown:
        return (
            f"⚠️ {device}: {error} It is not sent again on a guess: I am looking for it in the "
            "API's list, and will ask you here if it does not turn up."
        )
    return OPERATION_NOTICES["rejected"].format(device=device, error=error)


OPERATION_NOTICES = {
    "requeued": "⏳ {device}: {error} Trying again in {retry_in}.",
    "rejected": "❌ {device}: not scheduled. {error}",
    "sending_again": "🔁 {device}: sending it again, as {who} chose.",
    "dropped": "🗑️ {device}: dropped, as {who} chose; nothing more is sent for it.",
    "found_twice": "⚠️ {device}: the first attempt reached the API after all, as `{api_id}`. "
    "{device} now has two operations, `{api_id}` and `{other_id}`; both are followed here.",
    "unreachable": "📡 Could not check `{api_id}` on {device} for {minutes}; still trying.",
    "reachable": "📡 Contact with the API is back: `{api_id}` on {device} is *{status}*.",
    "overdue": "⏰ `{api_id}` on {device} has been running for {minutes}, much longer than "
    "expected. Check the device.",
    "vanished": "❔ The API no longer knows `{api_id}` on {device}: asked for it by id, it "
    "answered with nothing. The bot has stopped following it; `/ops list` shows what the API "
    "holds.",
}


def operation_notice(
    kind: str,
    *,
    device: str,
    api_id: str,
    error: str,
    status: str,
    minutes: object,
    retry_in: object,
    who: str = "",
    other_id: str = "",
) -> str:
    template = OPERATION_NOTICES.get(kind, "{device}: {kind}")
    return template.format(
        device=device,
        api_id=api_id,
        error=error,
        status=status,
        minutes=span(round(float(minutes) * 60) if isinstance(minutes, int | float) else 0),
        retry_in=f"{float(retry_in or 0):.0f} s",
        kind=kind,
        who=who,
        other_id=other_id,
    )


def adopted(*, device: str, api_id: str, status: str, error: str) -> str:
    return _with_status(
        f"🔎 {device}: the API did create it, as `{api_id}` (its answer had been lost); "
        "nothing was sent twice.",
        status,
        error,
    )


def _with_status(line: str, status: str, error: str) -> str:
    line = f"{line} It is *{status}*"
    return f"{line}: {error}" if error else f"{line}."


def adopted_again(*, device: str, api_id: str, status: str, error: str) -> str:
    return _with_status(
        f"🔎 {device}: the API did create it, as `{api_id}` (its answer had been lost). It was "
        "sent more than once: if another attempt turns up, this thread will say so.",
        status,
        error,
    )


def found_after_drop(*, device: str, api_id: str, status: str, error: str) -> str:
    return _with_status(
        f"⚠️ {device}: the attempt that was dropped reached the API after all, as "
        f"`{api_id}`; it is followed here.",
        status,
        error,
    )


def found_late(*, device: str, api_id: str, status: str, error: str) -> str:
    return _with_status(
        f"⚠️ {device}: an earlier attempt reached the API after all, as `{api_id}`; it is "
        "followed here.",
        status,
        error,
    )


def ask_unknown(*, device: str, error: str, waited: str) -> str:
    return (
        f"❓ {device}: did the API create it? The create call went unanswered ({error}), and "
        f"after {waited} the API's list still does not show it."
    )


def held_heading(device: str) -> str:
    return f"What the API's list shows for {device} since you confirmed:"


def held_nothing(device: str) -> str:
    return f"The API's list shows no operation for {device} since you confirmed."


def held_partial(more: int) -> str:
    return f"…and {more} more." if more else "(only the newest part of the list could be read)"


def ask_choice(requester: str) -> str:
    return (
        f"Send it again, or drop it? Only {requester} can choose. If it turns up in the list "
        "meanwhile, I take it and say so here."
    )


SEND_AGAIN = "Send again"
DROP = "Drop"
SEND_AGAIN_CONFIRM_TITLE = "Send it again?"
SEND_AGAIN_CONFIRM = (
    "If the first attempt did reach the API, the device will get this operation twice. "
    "I keep watching for it, and will say so here if it turns up."
)
SEND_AGAIN_CONFIRM_YES = "Send again"
SEND_AGAIN_CONFIRM_NO = "Not yet"
DROPPED = "Dropped by the requester: its outcome was unknown, and it was not sent again."


def sent_again_answer(who: str) -> str:
    return f"🔁 {who} chose to send it again."


def dropped_answer(who: str) -> str:
    return f"🗑️ {who} chose to drop it."


def finished(
    *, total: int, succeeded: int, failed: Sequence[str], did_not: int, stopped: int = 0
) -> str:
    parts = [f"{succeeded:,} completed"]
    if did_not:
        parts.append(f"{did_not:,} did not ({', '.join(failed)})")
    if stopped:
        parts.append(f"{stopped:,} never sent (stopped)")
    which = "Finished" if total == 1 else f"{every(total).capitalize()} finished"
    return f"🏁 {which}: {and_list(parts)}."


def not_posted(*, request_id: str, reason: str, typed: str) -> str:
    return (
        f"⚠️ Nothing was sent for your request `{request_id}`: I could not post it in the "
        f"channel. {reason} Then ask again: `/ops {typed}`"
    )


def slack_refused(error: str) -> str:
    """Why Slack will never take a message for a request's thread, and what can be done."""
    if error == "not_in_channel":
        return "I'm not a member of that channel: invite me with `/invite @opsbot`."
    if error == "channel_not_found":
        return "I can't find that channel: it is gone, or private and I'm not in it."
    if error == "is_archived":
        return "The channel has been archived."
    if error == "restricted_action":
        return "Only some members may post in that channel, and I am not one of them."
    return f"Slack refused the message (`{error}`)."


def confirm_interrupted(request_id: str) -> str:
    return (
        f"opsbot was restarted while confirming your request `{request_id}`, so nothing was "
        "sent to the API. Click Confirm again if you still want it."
    )


def undelivered(*, request_id: str, reason: str) -> str:
    return (
        f"⚠️ I could not post an update about your request `{request_id}` in its thread. "
        f"{reason} The operations go on regardless: `/ops list` shows where they are."
    )


NO_THREAD = "Its public message could not be posted, so its thread does not exist."
SEND_CRASHED = "The bot failed while sending this operation; it may or may not have been created."
ANSWER_NOT_RECORDED = "The API answered, but the bot could not record its answer."


def too_late_to_send(late: timedelta) -> str:
    """Past due by more than `late` (the bot, the API or Slack unavailable, whatever the
    cause: the time it waited for a person or a freeze is never counted)."""
    return (
        f"It could not be sent within {span(int(late.total_seconds()))} of its time, so it "
        "was not sent: running it now would surprise you. Ask again with a new time."
    )


UNKNOWN_ACTION = "That button is not one I know (an old or altered message?). Nothing was done."
MALFORMED_COMMAND = "That command arrived without a user or channel, so nothing was done."
