"""What every topic's words share: escaping typed text for mrkdwn, quoting it, counts said in
words (`plural`, `every`), lists, clocks and days, and the shape of a refusal.

Quoted input is inserted as typed: callers escape it for Slack (mrkdwn) with `escape`, because
only they know where the text goes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time, timedelta


def escape(typed: str) -> str:
    """Text a person typed is data, never markup: no `<!channel>`, no disguised links."""
    return typed.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# What a refusal echoes of a typed value, at most: a whole device name (63) and a little more,
# so that a 3,000-character word never buries the reason, and the message stays a few lines.
ECHO_LIMIT = 80


def quote(value: str) -> str:
    """A typed value between quotes, clipped past ECHO_LIMIT with its length said."""
    if len(value) <= ECHO_LIMIT:
        return f'"{value}"'
    return f"{clipped(value)} ({len(value):,} characters)"


def clipped(value: str) -> str:
    """Between quotes, its first ECHO_LIMIT characters and "…" if there are more."""
    return f'"{value[:ECHO_LIMIT]}…"' if len(value) > ECHO_LIMIT else f'"{value}"'


def or_list(words: Sequence[str]) -> str:
    """`a`, `a or b`, `a, b or c`."""
    if len(words) <= 1:
        return "".join(words)
    return f"{', '.join(words[:-1])} or {words[-1]}"


def and_list(words: Sequence[str]) -> str:
    if len(words) <= 1:
        return "".join(words)
    return f"{', '.join(words[:-1])} and {words[-1]}"


def plural(count: int, noun: str, many: str = "") -> str:
    """`1 device`, `2 devices`, `1,000 devices`; `many` for a noun whose plural is not `noun`
    and an s. Every count a person reads goes through here, never a bracketed s."""
    return f"{count:,} {noun if count == 1 else many or noun + 's'}"


def every(count: int, noun: str = "") -> str:
    """All of several, as said: `both devices`, `all 3 devices` (`both`, `all 3` without a
    noun); `the device` for one."""
    if count == 1:
        return f"the {noun or 'one'}"
    nouns = f" {noun}s" if noun else ""
    return f"both{nouns}" if count == 2 else f"all {count:,}{nouns}"


def clock(moment: time | datetime) -> str:
    """`14:00`, or `14:00:30` when there are seconds."""
    return moment.strftime("%H:%M:%S" if moment.second else "%H:%M")


def day(moment: date, *, today: date) -> str:
    """`Thu 26 Nov`, with the year only when it is not this year."""
    label = f"{moment:%a} {moment.day} {moment:%b}"
    return label if moment.year == today.year else f"{label} {moment.year}"


def utc_offset(offset: timedelta) -> str:
    """`UTC+01:00`, `UTC-04:00`, `UTC+05:30`."""
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    hours, minutes = divmod(abs(minutes), 60)
    return f"UTC{sign}{hours:02d}:{minutes:02d}"


def refusal(reason: str, example: str) -> str:
    return f"⚠️ {reason}\nFor example: `/ops {example}`" if example else f"⚠️ {reason}"
