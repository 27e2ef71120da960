"""The Home tab: its headings and lines."""

from __future__ import annotations

from bot.say.common import plural

# --- the Home tab ---------------------------------------------------------------------------

HOME_TITLE = "opsbot"
HOME_TO_CONFIRM = "Waiting for your confirmation"
HOME_TO_APPROVE = "Waiting for your approval"
HOME_IN_FLIGHT = "Your operations in flight"
HOME_SCHEDULED = "Scheduled across the fleet, next 24 hours"
HOME_FREEZES = "Freezes"
HOME_WINDOWS = "Windows"
HOME_NOTHING = "Nothing."
HOME_NO_FREEZE = "No freeze: requests go ahead."
HOME_NO_WINDOW = "No window configured: any time is allowed."


def home_zone(*, tz: str, at: str, note: str | None) -> str:
    line = f"Times in *{tz}* · as of {at} · refreshed when something here changes for you"
    return f"{line}\n{note}" if note else line


def home_request(*, typed: str, count: int, first: str, expires: str) -> str:
    return f"*{typed}*\n{plural(count, 'operation')}, first at {first} · expires {expires}"


def home_approval(
    *, requester: str, typed: str, count: int, first: str, approvals: int, needed: int, until: str
) -> str:
    return (
        f"{requester} asks: *{typed}*\n{plural(count, 'operation')}, first at {first} · "
        f"{approvals} of {plural(needed, 'approval')} · until {until}"
    )


def home_cannot_tell(reason: str) -> str:
    """Under a request on the Home tab whose approvers Slack cannot tell just now."""
    return f"⚠️ No buttons: I cannot tell whether you may approve this. {reason}"


def home_more(count: int, how: str) -> str:
    return f"…and {count:,} more: {how}"


HOME_MORE_REQUESTS = "their messages and threads in the channel have them all"
HOME_MORE_OPERATIONS = "`/ops list` lists the newest operations, `/ops list <device>` one device's"


def home_freeze(*, devices: str, by: str, until: str | None, reason: str) -> str:
    end = f"until {until}" if until else "until lifted"
    because = f" · {reason}" if reason else ""
    return f"🧊 {devices} · by {by} · {end}{because}"


def home_window(*, devices: str, schedule: str, tz: str, open_now: bool, next_start: str) -> str:
    now = "open now · " if open_now else ""
    return f"🕒 {devices} · {schedule} ({tz}) · {now}next opens {next_start}"


ALL_DEVICES = "all devices"
