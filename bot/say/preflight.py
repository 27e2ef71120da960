"""Pre-flight: what else the API holds on a request's devices, said before the click."""

from __future__ import annotations

from bot.say.common import plural

# --- pre-flight: what else is happening on the request's devices -----------------------------


def preflight_unavailable(reason: str) -> str:
    """The note on a confirmation when the API's list could not be read: not a refusal."""
    return (
        f"I could not check what else is running or scheduled on these devices: {reason} "
        "Confirm only if you know nothing else is planned there."
    )


def preflight_searched(searched: int) -> str:
    """The note saying how far the look went, when it did not read every operation."""
    return (
        f"I checked the newest {searched:,} operations for others on these devices: one "
        "created before them, however far ahead it is scheduled, would not be among them."
    )


RUNNING_NOW = "running now"
TIME_UNKNOWN = "at a time the API did not say"


def conflicts_heading(count: int) -> str:
    what = "an operation" if count == 1 else plural(count, "operation")
    return f"⚠️ *Conflicts*: the API holds {what} on these devices running now or within an hour:"


def conflict_line(*, api_id: str, device: str, operation_type: str, status: str, when: str) -> str:
    return f"• `{api_id}` · {device} · {operation_type} — {status}, {when}"
