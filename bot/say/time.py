"""Times: how spans and deltas are said, what the time reader refuses, and the notes it adds
(zones, daylight saving, a bare hour).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from bot.say.common import and_list, clock, or_list, quote
from bot.say.grammar import UNREAD_SHOWN, character

# --- time ---

DELTA_NOW = "now"
_SPAN_UNITS = ((86400, "d"), (3600, "h"), (60, "min"), (1, "s"))


def span(seconds: int) -> str:
    """`3 h 15 min`, `45 s`, `2 d 4 h`: the largest unit and, if any, the next one."""
    left = max(0, seconds)
    first = next((i for i, (size, _) in enumerate(_SPAN_UNITS) if left >= size), 3)
    size, unit = _SPAN_UNITS[first]
    parts = [f"{left // size} {unit}"]
    if first + 1 < len(_SPAN_UNITS):
        next_size, next_unit = _SPAN_UNITS[first + 1]
        following = left % size // next_size
        if following:
            parts.append(f"{following} {next_unit}")
    return " ".join(parts)


def delta_future(amount: str) -> str:
    return f"in {amount}"


def delta_past(amount: str) -> str:
    return f"{amount} ago"


def not_a_time(phrase: str) -> str:
    return (
        f"{quote(phrase)} is not a time I can read. Try a time such as 14:00, 3pm or noon, "
        "with today, tomorrow, a weekday or a date (2026-01-20, 20 jan) if not today, "
        'or "in 2 hours".'
    )


def time_unread_characters(phrase: str, chars: Sequence[str]) -> str:
    """A time phrase with characters outside plain text: `at １４:００`, `– now`."""
    named = and_list([character(c) for c in chars[:UNREAD_SHOWN]])
    return (
        f"{quote(phrase)} is not a time I can read. It contains {named}; times are written "
        "with plain letters and digits, such as 14:00, 3pm, tomorrow or in 2 hours."
    )


def bad_clock(token: str, problems: Sequence[str]) -> str:
    return f"{quote(token)} is not a time of day: {and_list(list(problems))}."


def clock_without_colon(token: str, fixed: str) -> str:
    return f"{quote(token)} is not a time of day I read: write its hours and minutes as {fixed}."


def clock_without_colon_either(token: str, morning: str, evening: str) -> str:
    return (
        f"{quote(token)} is not a time of day I read: write its hours and minutes as "
        f"{morning}, or {evening} for the evening."
    )


PROBLEM_AMPM_HOUR = "with am or pm the hour goes from 1 to 12"
PROBLEM_HOUR = "hours go from 0 to 23"
PROBLEM_MINUTE = "minutes go from 00 to 59"
PROBLEM_SECOND = "seconds go from 00 to 59"


def two_times(first: str, second: str) -> str:
    return f"I found two times, {quote(first)} and {quote(second)}: give one."


def two_zones(first: str, second: str) -> str:
    return f"I found two time zones, {quote(first)} and {quote(second)}: give one."


def unknown_zone(word: str) -> str:
    return f"I don't know the time zone {quote(word)}. Use a name like Europe/Berlin, or UTC."


def bad_year(value: str) -> str:
    return f"{quote(value)} is not a date: there is no year 0."


def bad_month(value: str) -> str:
    return f"{quote(value)} is not a date: months go from 1 to 12."


def bad_day(value: str, month_name: str, days: int, year: int | None) -> str:
    month = f"{month_name} {year}" if year is not None else month_name
    has = "has" if year is not None else "has at most"
    return f"{quote(value)} is not a date: {month} {has} {days} days."


def numeric_date(value: str) -> str:
    return (
        f"{quote(value)} could be read more than one way (day/month or month/day). "
        "Write the date as 2026-01-20 or 20 jan."
    )


def date_without_time(phrase: str) -> str:
    return (
        f"{phrase[:1].upper()}{phrase[1:]} at what time? "
        "Add a time of day such as 09:00, 3pm or noon."
    )


def in_past(phrase: str, now_text: str) -> str:
    return f"{quote(phrase)} is in the past: it is now {now_text}."


def too_far(phrase: str, days: int) -> str:
    return f"{quote(phrase)} is more than {days} days ahead; I only schedule within a year."


def relative_zero(phrase: str) -> str:
    return f'{quote(phrase)} is no time from now: write "now" to start right away.'


def now_in_zone(moment: datetime, zone_label: str) -> str:
    """`02:45 Wed 25 Nov 2026 (America/Los_Angeles)`."""
    return f"{clock(moment)} {moment:%a} {moment.day} {moment:%b} {moment.year} ({zone_label})"


def dst_gap(clock_text: str, day_text: str, zone_label: str) -> str:
    return (
        f"{clock_text} does not exist on {day_text} in {zone_label}: "
        "the clocks jump forward that night."
    )


def passed_today(clock_text: str, day_text: str) -> str:
    return f"{clock_text} has passed today, so this is tomorrow, {day_text}."


def midnight_tonight(day_text: str) -> str:
    return f"Midnight tonight is taken as 00:00 on {day_text}."


def weekday_is_today(weekday: str, day_text: str) -> str:
    return f'Today is {weekday}, so this is next {weekday}, {day_text}; say "today" for today.'


def dst_fold(clock_text: str, day_text: str, zone_label: str, first: str) -> str:
    return (
        f"{clock_text} happens twice on {day_text} in {zone_label} (the clocks go back); "
        f"using the first one, {first}."
    )


def dst_fold_second(clock_text: str, day_text: str, zone_label: str, second: str) -> str:
    return (
        f"{clock_text} happens twice on {day_text} in {zone_label} (the clocks go back); "
        f"the first has passed, so this is the second one, {second}."
    )


def tonight_evening(written: str, clock_text: str) -> str:
    return f'"Tonight at {written}" is taken as {clock_text}.'


def bare_hour(written: str, hour: int) -> str:
    if hour == 12:
        return 'Is "at 12" noon or midnight? Write "at noon" or "at midnight".'
    return (
        f'Is "at {written}" in the morning or the evening? '
        f"Write {hour}am, {hour}pm, or a 24-hour time such as {hour + 12}:00."
    )


def midnight_starts(day_text: str) -> str:
    return f"Midnight is taken as 00:00 at the start of {day_text}."


def next_weekday(weekday: str, day_text: str, week_after_text: str) -> str:
    return (
        f'"Next {weekday}" is taken as the coming one, {day_text}; '
        f"for the one after, write {week_after_text}."
    )


def date_next_year(written: str, day_text: str) -> str:
    return f"{quote(written)} has passed this year, so this is {day_text}."


def day_in_zone(written: str, zone_label: str, day_text: str) -> str:
    return f"{quote(written)} is counted in {zone_label}: {day_text}."


def zone_used(zone_label: str, offset_text: str, meaning: str = "") -> str:
    if offset_text == "UTC+00:00" and zone_label in ("UTC", "GMT", "Z"):
        return f"The time is in {zone_label}, as written."
    if meaning:
        return f"The time is in {zone_label}, {meaning} ({offset_text}), as written."
    return f"The time is in {zone_label} ({offset_text}), as written."


def zone_out_of_season(
    label: str,
    name: str,
    offset_text: str,
    *,
    day_text: str,
    keeper: str,
    current: str,
    current_offset: str,
    clock_text: str,
    also: str,
    offset_clock: str,
    offset_day: str,
) -> str:
    """`14:00 BST` in December: the wall clock in Europe/London, or UTC+01:00? Both said."""
    what = f"{quote(label)} is " + (f"{name} ({offset_text})" if name else offset_text)
    on = f"{current} ({current_offset})" if current else current_offset
    alternative = f" (or {clock_text} {also})" if also else ""
    offset_at = f"{offset_clock} on {offset_day}" if offset_day else offset_clock
    return (
        f"{what}, which is not in force on {day_text}: {keeper} is on {on} then, so "
        f"{clock_text} {label} could mean two times. For {clock_text} on the clocks in "
        f"{keeper}, write {clock_text} {keeper}{alternative}; {clock_text} at {offset_text} "
        f"is {offset_at} there."
    )


def zone_meaning(name: str, offset_text: str) -> str:
    """`China Standard Time (UTC+08:00)`."""
    return f"{name} ({offset_text})"


def ambiguous_zone(word: str, meanings: Sequence[str], zones: Sequence[str]) -> str:
    return (
        f"{quote(word)} could be {or_list(list(meanings))}. "
        f"Write the zone by its place instead: {or_list(list(zones))}."
    )


def time_word_past(phrase: str) -> str:
    return (
        f"{quote(phrase)} is in the past, and I only schedule from now on. Leave the time out "
        "to start as soon as you confirm, or give a time to come."
    )


def time_word_asap(phrase: str) -> str:
    return (
        f'For {quote(phrase)}, write "now", or leave the time out: '
        "the operation starts as soon as you confirm."
    )


def time_word_repeat(phrase: str) -> str:
    return (
        f"{quote(phrase)} asks for a repeat, but a request runs once: "
        "ask again for each time you want it."
    )


def time_word_vague(phrase: str) -> str:
    return (
        f"{quote(phrase)} does not say when. Give a time, such as at 14:00 or in 2 hours, "
        "or leave it out to start as soon as you confirm."
    )


def time_word_condition(phrase: str) -> str:
    return (
        f"{quote(phrase)} ties the operation to something else, and I start an operation "
        "only at a time you give: such as at 14:00 or in 2 hours, or leave the time out to "
        "start as soon as you confirm."
    )


def time_word_end_of_day(phrase: str, clock_text: str) -> str:
    return (
        f"{quote(phrase)} is a different hour for different people: "
        f"write the time you mean, such as {clock_text}."
    )


def time_word_part_of_day(phrase: str, clock_text: str) -> str:
    return (
        f"{phrase[:1].upper()}{phrase[1:]} at what time? Add a time of day, such as {clock_text}."
    )


PICKER_UNREADABLE = "This date and time could not be read: pick it again, or clear it for now."


def picker_past(when_text: str, now_text: str) -> str:
    return f"{when_text} is in the past: it is now {now_text}. Pick a later time."
