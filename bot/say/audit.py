"""`opsbot audit` in text: each line of the trail as a short sentence (plain text, not mrkdwn).
JSON and CSV keep every detail; a sentence names who did what to which request, and the facts
a person looks for first."""

from __future__ import annotations

from collections.abc import Sequence

from bot.say.common import plural, quote

WHAT_SHOWN = 80  # characters of a reason or an error said in a line, at most


def short(text: str) -> str:
    """The first line of `text`, clipped to WHAT_SHOWN characters."""
    first = text.strip().splitlines()[0] if text.strip() else ""
    return first if len(first) <= WHAT_SHOWN else first[: WHAT_SHOWN - 1] + "…"


def line(*, at: str, actor: str, sentence: str) -> str:
    return f"{at}  {actor:<7} {sentence}"


def operation(*, kind: str, device: str) -> str:
    """`reboot on server-01`: an operation as the trail names it."""
    return f"{kind} on {device}" if kind else device


# --- requests and their clicks


def requested(request: str, *, channel: str | None, text: str, count: int, waves: int) -> str:
    where = f" in #{channel}" if channel else ""
    how = f", in {plural(waves, 'wave')}" if waves else ""
    return f"asked{where} for {request}: {quote(text)} ({plural(count, 'operation')}{how})"


def refused(*, channel: str | None, text: str, reason: str) -> str:
    where = f" in #{channel}" if channel else ""
    return f"was refused{where}: {quote(text)}: {short(reason)}"


def confirmed(request: str, *, approvals: int) -> str:
    needs = f"; it needs {plural(approvals, 'approval')}" if approvals else ""
    return f"confirmed {request}{needs}"


def approved(request: str, *, count: int, needed: int) -> str:
    return f"approved {request} ({count} of {needed})"


def ended(request: str, *, event: str) -> str:
    """A request ended by a person or the clock, nothing more to say than how."""
    said = {
        "rejected": f"rejected {request}",
        "cancelled": f"cancelled {request}",
        "expired": f"{request} expired, never confirmed",
        "approval_expired": f"{request} was not approved in time",
        "window_closed": f"{request} not sent: the window it was moved into had closed",
    }
    return said.get(event, f"{event} {request}")


def approval_needed(request: str, *, needed: int) -> str:
    return f"{request} needs {plural(needed, 'approval')} for its new time outside its window"


def rejudged(request: str, *, needed: int, count: int) -> str:
    return f"judged {request} again under the policy in force: {count} of {needed} approvals"


def policy_refused(request: str, *, reason: str) -> str:
    return f"the policy in force refused {request}: {short(reason)}"


def moved(request: str, *, times: Sequence[str]) -> str:
    return f"moved {request} into its maintenance window: {', '.join(times)}"


def dropped(request: str, *, what: str, count: int, unanswered: bool) -> str:
    """One operation whose outcome was unknown (`what`), or those kept outside a window."""
    if what:
        return f"dropped {what} ({request})"
    why = ", not moved within a day" if unanswered else ""
    return f"dropped {plural(count, 'operation')} of {request} kept outside its window{why}"


def click_refused(request: str, *, action: str, reason: str) -> str:
    return f"clicked {action.replace('_', ' ')} on {request}, refused: {short(reason)}"


def stopped(request: str, *, reason: str) -> str:
    return f"stopped {request}: {short(reason)}"


# --- operations and the API


def created(request: str, *, api_id: str, what: str, when: str) -> str:
    at = f" at {when}" if when else ""
    return f"created {api_id}, {what}{at}, for {request}"


def api_status(request: str, *, api_id: str, device: str, old: str, new: str, error: str) -> str:
    why = f": {short(error)}" if error else ""
    return f"{api_id} on {device}: {old} → {new} ({request}){why}"


def not_created(request: str, *, event: str, what: str, error: str) -> str:
    said = {
        "api_refused": "the API refused",
        "not_sent": "did not send",
        "api_unknown": "cannot tell whether the API created",
        "api_retrying": "will try again",
    }.get(event, event)
    return f"{said} {what} ({request}): {short(error)}"


def operation_event(request: str, *, event: str, what: str, api_id: str | None) -> str:
    said = {
        "outside_window": "kept outside its maintenance window",
        "held": "held by a freeze",
        "released": "released as its freeze ended",
        "sent_again": "sent again",
        "adopted": "found in the API's list",
    }.get(event, event.replace("_", " "))
    named = f"{api_id}, {what}" if api_id else what
    return f"{named}: {said} ({request})"


# --- waves and freezes


def waves_halted(request: str, *, wave: int, waves: int, failed: int) -> str:
    return f"halted {request} after wave {wave} of {waves}: {plural(failed, 'operation')} failed"


def waves_continued(request: str, *, wave: int) -> str:
    return f"continued {request} with wave {wave}"


def waves_stopped(request: str, *, wave: int, never_sent: int) -> str:
    return f"stopped {request} after wave {wave}: {plural(never_sent, 'operation')} never sent"


def frozen(*, devices: Sequence[str] | None, until: str | None, reason: str) -> str:
    what = ", ".join(devices) if devices else "every device"
    when = f" until {until}" if until else ""
    return f"froze {what}{when}: {short(reason)}"


def unfrozen(*, freeze: object) -> str:
    return f"lifted freeze #{freeze}"


def other(event: str, request: str | None, facts: Sequence[str]) -> str:
    """An event this list does not know yet: its name, its request and its plain facts."""
    parts = [event.replace("_", " "), *([request] if request else [])]
    return " ".join(parts) + (f": {', '.join(facts)}" if facts else "")
