"""Everything the bot says to people, in one place.

Quoted input is inserted as typed: callers escape it for Slack (mrkdwn) with `escape`, because
only they know where the text goes. `help_text` is the exception: it is always mrkdwn.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from datetime import date, datetime, time, timedelta
from difflib import get_close_matches
from typing import TYPE_CHECKING

from bot.typed import shows_itself

if TYPE_CHECKING:
    from bot.catalog import OperationKind


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


# --- grammar ---

EXAMPLE_HELP = "help"
EXAMPLE_LIST = "list server-01"
EXAMPLE_LIST_PAGE = "list page 2"
EXAMPLE_STATUS = "status txn_1001"
EXAMPLE_DEVICE = "server-01"
EXAMPLE_DEVICES = ("server-01", "server-02")
EXAMPLE_RANGE = "server-01..server-20"
EXAMPLE_SHORT_RANGE = "server-08..10"
EXAMPLE_NAME = "example"  # for a service or package when the catalog gives no placeholder
EXAMPLE_TIME = "at 14:00"
EXAMPLE_WAVES = "reboot server-01..server-20 in waves of 5 with a canary at 23:00"
EXAMPLE_CLOCK = "09:00"  # the time suggested when a date came without one
EXAMPLE_DURATION = "600"

WHAT_DEVICE = "device"
NAME_CHARS = 'letters, digits, ".", "_", "-", "+", "@" and ":"'
DEVICE_CHARS = 'letters, digits, ".", "_" and "-"'


def empty_command() -> str:
    return "Tell me what to do: an operation such as reboot, or help for the list."


def too_long(length: int, limit: int) -> str:
    return f"That is {length} characters; a command can be at most {limit}."


def control_character(codepoint: int) -> str:
    name = unicodedata.name(chr(codepoint), "").lower()
    what = f"It is a {name}: type" if name else "Type"
    return (
        f"The command contains an invisible control character (U+{codepoint:04X}). "
        f"{what} the command again without it."
    )


def field_control_character(codepoint: int) -> str:
    """In a form's field, where the text grammar's "the command" would be wrong."""
    name = unicodedata.name(chr(codepoint), "").lower()
    what = f", a {name}" if name else ""
    return f"It contains an invisible control character (U+{codepoint:04X}{what}): remove it."


def character(char: str) -> str:
    """`"–" (U+2013, en dash)`; one that cannot be seen, by its code: `U+0301 (combining
    acute accent)`. The code tells apart characters that look alike (a Cyrillic "о")."""
    code = f"U+{ord(char):04X}"
    name = unicodedata.name(char, "").lower()
    described = f"{code}, {name}" if name else code
    if shows_itself(char):
        return f"{quote(char)} ({described})"
    return f"{code} ({name})" if name else code


UNREAD_SHOWN = 5  # characters named in one refusal


def unread_characters(chars: Sequence[str]) -> str:
    """Characters outside plain text, where a command is read (not in a quoted value)."""
    shown = [character(c) for c in chars[:UNREAD_SHOWN]]
    if len(chars) > UNREAD_SHOWN:
        shown.append(f"{len(chars) - UNREAD_SHOWN} more")
    are = "is not a character" if len(chars) == 1 else "are not characters"
    return (
        f"{and_list(shown)} {are} I read in a command: names, times and options are "
        "written with plain letters, digits and punctuation."
    )


def unknown_operation(word: str, keywords: Sequence[str]) -> str:
    return (
        f"I don't know {quote(word)}. I can {or_list(list(keywords))}, "
        "and also list, status and help."
    )


def list_extra(extra: str) -> str:
    return f"list takes at most one device name, but got {quote(extra)} as well."


def list_page_missing() -> str:
    return "Which page? Put its number after page: page 1 is the newest operations."


def list_page_not_a_number(word: str) -> str:
    return f"Pages are numbered 1, 2, 3 and so on; {quote(word)} is not a page number."


def list_page_too_far(maximum: int) -> str:
    return f"Page numbers go up to {maximum:,}."


def list_page_extra(extra: str) -> str:
    return f"list page takes one number, but got {quote(extra)} as well."


def list_device_page(device: str) -> str:
    return (
        f"Pages are for the whole list; list {device} shows the newest operations of "
        f"{device} without pages."
    )


def status_missing() -> str:
    return "Which operation? Give its id after status."


def status_extra(extra: str) -> str:
    return f"status takes one operation id, but got {quote(extra)} as well."


def status_bad_id(value: str, limit: int) -> str:
    return (
        f"{quote(value)} is not an operation id: ids are letters, digits, "
        f'"_" and "-", at most {limit} characters.'
    )


def name_empty(what: str) -> str:
    return f"The {what} name is empty."


def name_bad_characters(what: str, value: str, bad: Sequence[str], allowed: str) -> str:
    named = [quote(c) if " " < c <= "~" else character(c) for c in bad[:UNREAD_SHOWN]]
    more = [f"{len(bad) - UNREAD_SHOWN} more"] if len(bad) > UNREAD_SHOWN else []
    shown = ", ".join([*named, *more])
    return (
        f"{quote(value)} can't be a {what} name: it contains {shown}. "
        f"A {what} name uses only {allowed}."
    )


def name_bad_start(what: str, value: str) -> str:
    return f"{quote(value)} can't be a {what} name: it must start with a letter or a digit."


def name_bad_end(what: str, value: str) -> str:
    return f"{quote(value)} can't be a {what} name: it must end with a letter or a digit."


def name_too_long(what: str, value: str, limit: int) -> str:
    # The reason first: the value may be thousands of characters, clipped after it.
    return f"A {what} name can be at most {limit} characters; this one is {len(value):,}: " + (
        f"{clipped(value)}."
    )


def name_reserved(what: str, value: str) -> str:
    return f"{quote(value)} can't be a {what} name: it is a word I read as part of a command."


def missing_devices(after: str, found: str | None = None) -> str:
    if found is None:
        return f"Which devices? Put their names after {quote(after)}."
    return (
        f"Which devices? {quote(found)} is a word I read as part of a time or an option, "
        f"not a device name: put the device names after {quote(after)}."
    )


def missing_devices_not_a_name(after: str, found: str) -> str:
    return (
        f"Which devices? {quote(found)} is not a device name: put their names after {quote(after)}."
    )


def several_requests(commands: Sequence[str]) -> str:
    shown = ", then ".join(f"`/ops {command}`" for command in commands)
    return (
        f"That is {len(commands)} requests in one line, and each has its own confirmation, "
        f"so type them one at a time: {shown}."
    )


def several_requests_times(count: int) -> str:
    return (
        f"That is {count} requests in one line, and only some of them say when: type them one "
        "at a time, each with the time it should start."
    )


def several_requests_part(count: int, part: str, reason: str) -> str:
    return f"That is {count} requests in one line: type them one at a time. {quote(part)}: {reason}"


def several_requests_too_many(count: int, limit: int) -> str:
    return (
        f"That is {count} requests in one line: type them one at a time "
        f"(I list the commands for at most {limit})."
    )


def not_an_option(keyword: str, word: str, options: Sequence[str]) -> str:
    if not options:
        return f"{keyword} takes no options, so {quote(word)} does not belong here."
    return (
        f"{keyword} has no {quote(word)} option; it takes {or_list([quote(o) for o in options])}."
    )


def missing_after_separator(separator: str, what: str) -> str:
    return f"A {what} name should follow {quote(separator)}."


def too_many_devices(count: int, limit: int) -> str:
    return (
        f"That is {count:,} devices; one request can take at most {limit:,}. "
        "Split it into several requests."
    )


def too_many_names(count: int, limit: int) -> str:
    """Ranges and groups naming so many, repeats included, that they are not even expanded."""
    return (
        f"These ranges and groups name {count:,} devices, counting repeats; one request can "
        f"take at most {limit:,}. Split it into several requests."
    )


def range_too_wide(written: str, count: int, limit: int) -> str:
    return (
        f"{quote(written)} is {count:,} devices; one request can take at most {limit:,}. "
        "Split it into several requests."
    )


def range_unreadable(written: str) -> str:
    return (
        f"{quote(written)} is not a range: a range is two names that end in a number, "
        f"like {EXAMPLE_RANGE} (or {EXAMPLE_SHORT_RANGE}), and names every device between."
    )


def range_mixed_prefix(written: str, left: str, right: str) -> str:
    return (
        f"{quote(written)} is not a range: {quote(left)} and {quote(right)} differ before "
        "the number. A range counts on the number that ends one name."
    )


def range_reversed(written: str) -> str:
    return f"{quote(written)} counts down; write a range from the lower number to the higher."


def range_padding(written: str, left: str, right: str) -> str:
    return (
        f"{quote(written)} is unclear: {quote(left)} and {quote(right)} are padded with zeros "
        "differently. Write both ends with the same number of digits."
    )


def unknown_group(name: str, groups: Sequence[str]) -> str:
    if not groups:
        return (
            f"There is no group {quote(name)}: the policy file defines none (its [groups] "
            "section). Name each device, or a range like " + EXAMPLE_RANGE + "."
        )
    close = get_close_matches(name.lower(), groups, n=1, cutoff=0.6)
    hint = f" (did you mean {quote(close[0])}?)" if close else ""
    shown = or_list([quote(g) for g in groups[:10]]) + (" …" if len(groups) > 10 else "")
    return f"There is no group {quote(name)}{hint}; the groups are {shown}."


def group_without_sigil(word: str, group: str, count: int) -> str:
    return (
        f"{quote(word)} is the name of a group, not taken as a device: write {group} for its "
        f"{plural(count, 'device')}."
    )


def group_members(group: str, count: int, members: str) -> str:
    return f"{group} is {plural(count, 'device')}: {members}."


def named_again(count: int, shown: str) -> str:
    return (
        f"{count:,} device{' was' if count == 1 else 's were'} named more than once by the "
        f"ranges and groups ({shown}); each is included once."
    )


def group_name_sigil(name: str) -> str:
    return f'group "{name}" is written without its "@": {name[1:]} = […], then typed {name}'


def group_name_bad(name: str, limit: int) -> str:
    return (
        f'group "{name}" must be one word of letters, digits, "-" and "_", starting with a '
        f"letter, at most {limit} characters"
    )


def duplicate(value: str, count: int, *, others: Sequence[str] = ()) -> str:
    times = "twice" if count == 2 else f"{count} times"
    also = f" (also as {', '.join(others)})" if others else ""
    return f"{value} was listed {times}{also}; it is included once."


def missing_name(label: str, keyword: str) -> str:
    return f"Which {label.lower()}? Put its name after {keyword}."


def connector_missing_at_end(names: str, connector: str) -> str:
    return f"On which devices? Add {quote(connector)} and their names after {quote(names)}."


def connector_missing(connector: str, label: str) -> str:
    return f"Put {quote(connector)} between the {label.lower()} and the devices."


def not_connector_maybe_item(word: str, label: str) -> str:
    what = label.lower()
    return (
        f'If {quote(word)} is one more {what}, separate the {what}s with commas or "and", '
        f"and put {quote('on')} before the devices."
    )


def missing_list(word: str, label: str) -> str:
    return f"Which {label.lower()}? Put the names after {quote(word)}."


def missing_value(word: str) -> str:
    return f"{quote(word)} needs a length after it: seconds (600), or 90s, 10m, 1h."


# What a "value" field takes, as a person would say it; and a value of each type for examples.
VALUE_TYPE_WORDS = {
    "string": "a word (or words between quotes)",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
}
EXAMPLE_VALUES = {"string": "example", "integer": "10", "number": "2.5", "boolean": "true"}


def _value_of(label: str) -> str:
    """`the value for Interval`; a label that says value itself is not said twice: `the value`
    for `Value` (never "the value for Value"), `the new value` for `New value`."""
    if "value" not in label.lower().split():
        return f"the value for {label}"
    if label.lower() == "value":
        return "the value"
    # "New value" reads "the new value"; an acronym (`TR-069 value`) keeps its case.
    return f"the {label[0].lower() + label[1:] if label[1:2].islower() else label}"


def _the_value(label: str) -> str:
    """`_value_of` starting a sentence."""
    said = _value_of(label)
    return said[:1].upper() + said[1:]


def value_missing(word: str, value_type: str, sample: str) -> str:
    return f"{quote(word)} needs a value after it: {VALUE_TYPE_WORDS[value_type]}, like {sample}."


def value_required(label: str, word: str, value_type: str, sample: str) -> str:
    return (
        f"{_the_value(label)} is missing: put {VALUE_TYPE_WORDS[value_type]} "
        f"after {quote(word)}, like {sample}."
    )


def value_word_missing(value: str, word: str, label: str) -> str:
    return f"If {quote(value)} is {_value_of(label)}, put {quote(word)} before it."


def value_not_whole(label: str, sample: str) -> str:
    return f"{_the_value(label)} must be a whole number, like {sample}."


def value_not_number(label: str, sample: str) -> str:
    return f"{_the_value(label)} must be a number, like {sample} (with a dot for decimals)."


def value_not_boolean(label: str, typed: str) -> str:
    said = f"{_the_value(label)} must be true or false (yes and no work too)"
    if typed.lower() in ("on", "off"):
        # "on" already means "on these devices"; off alone would be the odd one out.
        return f'{said}, not {quote(typed)}: "on" comes before the devices.'
    return f"{said}."


def value_too_large(label: str, limit: int) -> str:
    return f"{_the_value(label)} is too large: at most {limit} either side of 0."


def value_too_long(label: str, limit: int) -> str:
    return f"{_the_value(label)} is longer than {limit} characters."


def value_unclosed_quote(label: str) -> str:
    return (
        f"{_the_value(label)} opens a quote but does not close it: "
        'put the words between two quotes, like "two words".'
    )


def list_required(label: str, word: str, keyword: str) -> str:
    what = label.lower()
    return (
        f"Which {what}? Name at least one after {quote(word)}: "
        f"without {what}, nobody can tell what {keyword} would do."
    )


def list_word_missing(value: str, word: str, label: str) -> str:
    return f"Which {label.lower()}? If {quote(value)} is one, put {quote(word)} before it."


def no_device_groups(written: str, groups: Sequence[str] = ()) -> str:
    if not groups:
        return (
            f"{quote(written)} is not a device: there are no groups of devices yet, "
            'so name each one, separated by commas or "and", or a range like '
            f"{EXAMPLE_RANGE}."
        )
    shown = or_list(list(groups[:5])) + (" …" if len(groups) > 5 else "")
    return (
        f'{quote(written)} is not a device: name each one, separated by commas or "and", '
        f"a range like {EXAMPLE_RANGE}, or a group: {shown}."
    )


def too_many_operations(count: int, names: int, label: str, devices: int, limit: int) -> str:
    device_word = "device" if devices == 1 else "devices"
    return (
        f"That is {names} {label.lower()}s on {devices} {device_word}, {count} operations; "
        f"one request can make at most {limit}. Split it into several requests."
    )


def cannot_cancel(word: str, operation_id: str | None) -> str:
    which = f"{operation_id}" if operation_id else "an operation"
    return (
        f"I can't {word} {which}: the Zequenze API offers no way to cancel a scheduled "
        "operation. You can follow it with status and its id; a request you have not "
        "confirmed yet is cancelled with its Cancel button."
    )


def given_twice(word: str) -> str:
    return f"{quote(word)} is given twice; give it once."


def duration_unreadable(label: str, value: str) -> str:
    return (
        f"{quote(value)} is not a {label.lower()} I can read: "
        "write seconds (600), or a number with s, m or h (90s, 10m)."
    )


def duration_not_positive(label: str, value: str) -> str:
    return f"The {label.lower()} must be more than 0 seconds, not {quote(value)}."


def duration_too_long(label: str, value: str, limit_seconds: int) -> str:
    return (
        f"The {label.lower()} {quote(value)} is too long: "
        f"at most {limit_seconds // 3600} h ({limit_seconds} s)."
    )


def not_time_maybe_device(phrase: str, word: str) -> str:
    return (
        f"{quote(phrase)} is not a time I can read. If {quote(word)} is another device, "
        'separate the devices with commas or "and".'
    )


def not_time_maybe_item(phrase: str, word: str, label: str) -> str:
    return (
        f"{quote(phrase)} is not a time I can read. If {quote(word)} is one more of the "
        f'{label.lower()}, separate the names with commas or "and".'
    )


def leftover_items(value: str, label: str) -> str:
    return (
        f'I can\'t read {quote(value)} as {label.lower()}: separate the names with commas or "and".'
    )


def devices_required() -> str:
    return "Enter at least one device name."


def field_required(label: str) -> str:
    return f"{label} is required."


def field_wrong_type(label: str) -> str:
    return f"{label} has a value I can't use."


def unknown_operation_type(operation_type: str) -> str:
    return f"{quote(operation_type)} is not an operation I know."


def leftover_devices(value: str) -> str:
    return (
        f'I can\'t read {quote(value)} as a device list: separate the devices with commas or "and".'
    )


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


# --- help ---


def help_text(kinds: Sequence[OperationKind], *, max_devices: int, admin: bool = False) -> str:
    """The `/ops help` answer: what this person may request, and how many devices at once (the
    policy's `[limits]`). Slack mrkdwn, with `&`, `<` and `>` escaped."""
    if not kinds:
        return escape(
            "The policy lets you request no operation; `list` and `status` still work for you."
        )
    lines = ["*What I can do* (type it after `/ops`)"]
    for kind in kinds:
        lines.append(f"• {kind.label}: `{kind.syntax}`")
        lines.append(f"    e.g. `{kind.example}`")
    lines += [
        "",
        "*Devices*: one or more names separated by commas or “and”, "
        "e.g. `server-01, server-02 and server-03`; a range, `server-01..server-20` or "
        "`server-08..10`, names every device between; `@web` names the policy file's group "
        f"web (not “all”). One request names at most {plural(max_devices, 'device')}.",
        "*Waves*: `in waves of 10` (or `10 at a time`) sends 10 devices at a time, each wave "
        "once the one before has ended with no failure; `with a canary` sends one device "
        "alone first. A failure holds the rest until you click Continue or Stop, "
        f"e.g. `{EXAMPLE_WAVES}`.",
        *_help_values(kinds),
        "",
        "*When* (optional; without it the operation starts now). "
        "Times are in your time zone unless you name one:",
        "`now`  `at 14:00`  `at 3pm`  `at 9:30pm`  `at noon`  `at midnight`",
        "`today at 17:30`  `tomorrow at 3am`  `14:00 tomorrow`  `on saturday at 23:00`",
        "`on 20 jan at 09:30`  `on YYYY-MM-DD at 09:30`",
        "`in 30 minutes`  `in 2 hours`  `in 90 min`  `in 1h`  `in 2 days`",
        "`at 16:00 CET`  `2pm UTC`  `at 09:00 Europe/Berlin`",
        "An abbreviation with several meanings (CST, IST, BST…) is read as your region uses it, "
        "or refused with the choices: `at 16:00 America/Chicago` always works.",
        "A time of day that has already passed today means tomorrow. "
        "Say am or pm with a bare hour (at 9am, at 9pm), or use 24-hour time (at 21:00).",
        "",
        "*Other commands*",
        "• `list`: the newest operations (`list page 2`: the next ones); "
        "`list <device>`: those of one device",
        "• `status <operation id>`: where one operation is",
        "• `plan <command>`: what the command would do (approvals, windows, conflicts), "
        "with nothing recorded or sent",
        *(
            [
                "• `freeze [devices] [for 2h | until 18:00] <reason>`: stop new requests for "
                "them and hold what is not sent yet; `unfreeze [devices]` lifts it. A device "
                "here has a digit, `-` or `.` (`server-01`, `db-*`) or is a group (`@db`), "
                "unless `for` or `until` follows: `freeze web upgrade` freezes every device, "
                "for “web upgrade”",
            ]
            if admin
            else []
        ),
        "• `help`: this text",
        "The API cannot cancel a scheduled operation: check everything before you click "
        "Confirm (until then, Cancel drops the request).",
    ]
    return escape("\n".join(lines))


def _help_values(kinds: Sequence[OperationKind]) -> list[str]:
    """How values are written, for a catalog that has "value" fields (none by default)."""
    types = {f.value_type for k in kinds for f in k.fields if f.kind == "value"}
    if not types:
        return []
    lines = ["", "*Values*: one word or number after its word, e.g. `to 300`."]
    if "string" in types:
        lines.append('A value with spaces or commas goes between quotes: `to "two words"`.')
    if "boolean" in types:
        lines.append("A yes-or-no value is `true` or `false` (or `yes`, `no`); not on or off.")
    return lines


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


def list_empty(device: str | None) -> str:
    return f"No scheduled operations for `{device}`." if device else "No scheduled operations."


def list_heading(total: int, device: str | None) -> str:
    """The whole list fits: `total` is how many are shown."""
    where = f" for `{device}`" if device else ""
    return f"*{plural(total, 'operation')}{where}*, newest first:"


def list_newest(shown: int, total: int) -> str:
    return f"*The newest {shown} of {plural(total, 'operation')}*:"


def list_page_heading(first: int, last: int, total: int) -> str:
    return f"*Operations {first:,}–{last:,} of {total:,}*, newest first:"


def list_next_page(page: int, count: int, pages: int) -> str:
    return f"`/ops list page {page:,}` shows the next {count} ({pages:,} pages in all)."


def list_past_the_end(page: int, total: int, page_size: int) -> str:
    pages = -(-total // page_size)
    held = "1 operation makes" if total == 1 else f"the {total:,} operations make"
    return (
        f"There is no page {page:,}: {held} "
        f"{plural(pages, 'page')} of {page_size}. `/ops list page {pages:,}` shows the oldest."
    )


def list_device_found(found: int, device: str, searched: int, total: int) -> str:
    """Some of `device`'s operations among the newest `searched` (fewer than `total`)."""
    return (
        f"*{found} for `{device}` among the newest {searched:,} of {plural(total, 'operation')}*, "
        "newest first:"
    )


def list_device_newest(found: int, device: str, searched: int, total: int) -> str:
    """As many of `device`'s as one list shows, found among the newest `searched`."""
    return (
        f"*The newest {found} for `{device}`*, found among the newest {searched:,} of "
        f"{plural(total, 'operation')}:"
    )


def list_device_none(device: str, searched: int, total: int) -> str:
    return (
        f"No operations for `{device}` among the newest {searched:,} of "
        f"{plural(total, 'operation')}."
    )


def refusal(reason: str, example: str) -> str:
    return f"⚠️ {reason}\nFor example: `/ops {example}`" if example else f"⚠️ {reason}"


CLICK_REFUSALS = {
    "not_found": "That request does not exist (any more). Start again with `/ops`.",
    "not_yours": "Only {requester} can confirm or cancel this request. "
    "Ask them, or make your own with `/ops`.",
    "expired": "This request expired before it was confirmed; nothing was sent. "
    "Ask again with `/ops`.",
    "too_late": "The time you asked for has passed while this waited, so nothing was sent. "
    "Ask again with a new time, e.g. `/ops reboot server-01 in 10 minutes`.",
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


INTERNAL_ERROR = (
    "Something went wrong on my side while handling that. Before trying again, check "
    "`/ops list` to see whether it reached the API; if this keeps happening, tell an admin "
    "(the bot's log has the details)."
)

# --- the modal -----------------------------------------------------------------------------

MODAL_TITLE = "Schedule an operation"
MODAL_SUBMIT = "Review"
MODAL_TYPE = "Operation"
MODAL_DEVICES = "Device(s)"
MODAL_WHEN = "When"
MODAL_WHEN_HINT = "Your local time. Leave empty to run now."
MODAL_HINTS = {  # by the kind of the operation's field
    "name": "One or more, separated by commas: one operation per name and device.",
    "name_list": "One or more, separated by commas.",
}
MODAL_VALUE_HINTS = {  # by the value_type of a "value" field
    "string": "Exactly as it should be set; no quotes needed.",
}
MODAL_TRUE = "true"
MODAL_FALSE = "false"


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


# --- the opsbot command, in a terminal (plain text, not mrkdwn) -----------------------------


def cli_error(message: str) -> str:
    return f"opsbot: {message}"


def setting_not_set(name: str) -> str:
    return f"{name} is not set."


def setting_wrong_prefix(name: str, prefix: str, hint: str) -> str:
    return f"{name} should start with {prefix!r}: {hint}"


BOT_TOKEN_HINT = "check you copied the Bot User OAuth Token."
APP_TOKEN_HINT = "an app-level token with connections:write."


def setting_not_url(name: str, example: str) -> str:
    return f"{name} must be an http(s) URL, like {example}."


def setting_not_database_url(name: str, example: str) -> str:
    return f"{name} must be a PostgreSQL URL, like {example}."


def setting_not_number(name: str, raw: str, *, whole: bool) -> str:
    return f"{name} must be a {'whole ' if whole else ''}number, not {raw!r}."


def setting_out_of_range(name: str, raw: str, low: float, high: float) -> str:
    return f"{name} must be between {low:g} and {high:g}, not {raw}."


def setting_not_choice(name: str, raw: str, choices: Sequence[str]) -> str:
    quoted = [repr(c) for c in choices]
    allowed = ", ".join(quoted[:-1]) + f" or {quoted[-1]}" if len(quoted) > 1 else quoted[0]
    return f"{name} must be {allowed}, not {raw!r}."


def dotenv_bad_line(path: str, number: int) -> str:
    return f"{path}: line {number} is not KEY=value."


def settings_refused(problems: Sequence[str]) -> str:
    """Every problem found, so one fix-and-retry round is enough."""
    if len(problems) == 1:
        return f"{problems[0]} See the Settings section of the README."
    listed = "\n".join(f"  - {problem}" for problem in problems)
    return (
        f"{len(problems)} settings need fixing (see the Settings section of the README):\n{listed}"
    )


def folder_missing(folder: str) -> str:
    return f"the folder {folder} does not exist"


IS_A_FOLDER = "it is a folder, not a file"


def database_unusable(path: str, reason: str) -> str:
    return (
        f"cannot open the database OPSBOT_DB={path} ({reason}). Check that its folder exists "
        "and that opsbot may write there, or set OPSBOT_DB to another file."
    )


def slack_token_refused(name: str, error: str) -> str:
    where = (
        "Create a new one under Basic Information → App-Level Tokens (scope connections:write)."
        if name == "SLACK_APP_TOKEN"
        else "Copy the Bot User OAuth Token (xoxb-…) again from the app's Install App page, "
        "and check that the app is still installed in the workspace."
    )
    return f"Slack refused {name} ({error}). {where}"


def slack_startup_error(error: str) -> str:
    return (
        f"Slack answered {error} when opsbot started. Try again in a minute; if it goes on, "
        "check https://status.slack.com."
    )


def slack_check_failed(name: str, reason: str) -> str:
    return f"checking {name} with Slack failed ({reason}). Check the Slack settings."


def slack_unreachable(url: str, reason: str) -> str:
    return (
        f"could not reach Slack at {url} ({reason}). Check the network and any proxy, "
        "and SLACK_API_URL if you set it."
    )


def port_unavailable(port: int, reason: str, *, setting: str) -> str:
    return (
        f"cannot listen on port {port} ({reason}). Stop whatever uses it, or set {setting} to "
        "a free port."
    )


def database_in_use(path: str, pid: int | None) -> str:
    who = f"another opsbot (process {pid})" if pid else "another opsbot"
    return (
        f"{who} is already running with OPSBOT_DB={path}; two would take each other's work "
        "in hand. Stop that one first, or set OPSBOT_DB to another file."
    )


def api_token_refused(url: str, status: int) -> str:
    allowed = ", and that it may list and create headless operations" if status == 403 else ""
    return (
        f"the control API at {url} refused ZEQUENZE_API_TOKEN (HTTP {status}). "
        f"Check the token{allowed}."
    )


def api_not_there(url: str, answer: str, *, example: str) -> str:
    return (
        f"ZEQUENZE_API_URL={url} does not look like the control API: asked for its operations, "
        f"it answered {answer}. Set ZEQUENZE_API_URL to the API's base, e.g. {example}"
    )


def api_answer_not_a_list(status: int) -> str:
    return f"HTTP {status} without the list of operations"


def api_unchecked(url: str, reason: str) -> str:
    return (
        f"could not check the control API at {url} ({reason}); starting anyway. "
        "Check ZEQUENZE_API_URL and the network if this goes on."
    )


def backup_no_database(path: str) -> str:
    return f"no database at {path} (set OPSBOT_DB)."


def audit_bad_since(value: str) -> str:
    return (
        f"{quote(value)} is not a date or a time ago: write it like 2026-11-20 (from midnight "
        "UTC), 2026-11-20T09:00:00+01:00, 7d or 24h."
    )


def audit_unreadable(path: str, reason: str) -> str:
    return f"cannot read the audit trail in {path} ({reason}). Check OPSBOT_DB."


AUDIT_EMPTY = "No audit lines"  # followed by " since <time>" or "."


def audit_empty(since: str | None) -> str:
    return f"{AUDIT_EMPTY} since {since}." if since else f"{AUDIT_EMPTY}."


def backup_target_exists(path: str) -> str:
    return f"{path} exists already; choose a new file."


def backup_source_unreadable(path: str, reason: str) -> str:
    return f"cannot read the database {path} ({reason}). Check OPSBOT_DB."


def backup_failed(path: str, reason: str) -> str:
    return (
        f"could not write a backup to {path} ({reason}). Check that its folder exists and "
        "that you may write there."
    )


def backed_up(source: str, target: str) -> str:
    return f"backed up {source} to {target}"


def migrated(database: str, applied: Sequence[str], latest: str) -> str:
    """What `opsbot migrate` did to `database` (a path, or a URL without its password)."""
    if not applied:
        return f"{database} is up to date (schema {latest}); nothing to apply."
    listed = "\n".join(f"  {name}" for name in applied)
    return f"migrated {database} to schema {latest}, applying {len(applied)}:\n{listed}"


def migrate_failed(database: str, reason: str, setting: str) -> str:
    return f"could not migrate {database} ({reason}). Check {setting}."


def parse_not_an_operation(typed: str, keywords: Sequence[str]) -> str:
    return (
        f"{quote(typed)} is a question for the bot, not an operation: parse only explains "
        f"operations ({or_list(list(keywords))}). list, status and help are answered by the "
        "bot itself: type them after /ops in Slack, or try them in opsbot demo."
    )


def now_not_iso(value: str) -> str:
    return f"{quote(value)} is not ISO 8601: write it like 2026-11-25T10:45:00Z."


def now_without_zone(value: str) -> str:
    return (
        f"{quote(value)} has no time zone: add Z for UTC or an offset, like "
        "2026-11-25T10:45:00Z or 2026-11-25T11:45:00+01:00."
    )


def not_a_share(value: str) -> str:
    return f"{quote(value)} is not a share: give a number from 0 to 1, like 0.3."


def not_seconds(value: str) -> str:
    return f"{quote(value)} is not a number of seconds: give 0 or more, like 3."


def not_a_port(value: str) -> str:
    return f"{quote(value)} is not a port: give a whole number from 0 to 65535 (0: any free one)."


def demo_greeting(devices: str) -> str:
    return (
        "Type what you would type after /ops, e.g.: restart nginx on server-02 now\n"
        "then confirm or cancel. Also: list, status txn_1001, help, ? (this text), quit.\n"
        f"Devices in the simulator: {devices}.\n"
        "(/ops alone opens a form in Slack only; here, type the whole request.)"
    )


def demo_policy(*, source: str, you: str, approver: str, admin: str | None) -> str:
    """The greeting's part for `--config`: whose lines these are, and the policy's words."""
    freeze = f", as {admin} freeze server-* for 1h patching" if admin else ""
    return (
        f"Policy: {source}. What you type is said by {quote(you)}; start a line with as and "
        f"someone's id to say it as them, e.g. as {approver} approve{freeze}.\n"
        "Also: plan <request> (a dry run: nothing recorded), approve or reject (the newest "
        "request waiting for approval; approve r_… names one), move (into the maintenance "
        "window a confirmation offers)."
    )


def demo_groups(known: Mapping[str, Sequence[str]], unknown: Sequence[str]) -> str:
    """The user groups of the demo: no Slack to ask, only --group."""
    lines = []
    if known:
        listed = "; ".join(f"{group} = {', '.join(users)}" for group, users in known.items())
        lines.append(f"User groups (from --group): {listed}.")
    if unknown:
        example = f"--group {unknown[0]}=U0002,U0003"
        lines.append(
            f"Unknown here, as there is no Slack to ask: {', '.join(unknown)}. A rule naming "
            f"them refuses; give their members with {example}."
        )
    return "\n".join(lines)


def demo_approval_hint(approver: str) -> str:
    return (
        f"(It waits for someone else's approval: type as {approver} approve, or "
        f"as {approver} reject.)"
    )


def demo_not_a_user(word: str, *, you: str) -> str:
    return (
        f"{quote(word)} is not a Slack user id (U… or W…, like U0002), nor {you}: "
        "nothing was done. For example: as U0002 approve"
    )


def demo_bad_group(value: str) -> str:
    return (
        f"{quote(value)} is not a user group with its members: give an S… id, =, and U… or "
        "W… ids separated by commas, like S0DBA=U0002,U0003."
    )


DEMO_AS_NOTHING = "Say what they type after their id, e.g. as U0002 approve"
DEMO_NOTHING_PENDING = "Nothing is waiting for confirmation. Type a request first."
DEMO_NOTHING_TO_APPROVE = (
    "Nothing is waiting for approval: a request that needs it waits once its requester "
    "has typed confirm."
)
DEMO_NO_QUESTION = "No question is waiting for an answer."
DEMO_WAITING = "(waiting for the operations to finish…)"


def demo_unfinished(lines: Sequence[str], *, waited: int | None) -> str:
    """`waited`: the seconds the demo waited at most, after piped input; None if you quit."""
    why = (
        f" (it waits at most {waited} s, and not for what cannot finish by then)"
        if waited is not None
        else ""
    )
    listed = "\n".join(f"  {line}" for line in lines)
    return (
        f"Not finished when the demo ended{why}:\n{listed}\n"
        "Those sent stay scheduled in the simulator, which is stopping now: nothing tracks "
        "them further."
    )


def demo_operation(*, device: str, api_id: str | None, status: str, when: str) -> str:
    return f"{device} · {api_id or 'not sent yet'} · {status} · {when}"


def demo_failed(*, device: str, api_id: str | None) -> str:
    return f"{device} ({api_id or 'not scheduled'})"


def demo_failures(failed: Sequence[str], *, total: int) -> str:
    return f"{len(failed)} of {plural(total, 'operation')} failed: {', '.join(failed)}."


# --- the Zequenze API's answers, as sentences for people ----------------------------------

API_NO_ID = "The API accepted the operation but did not say its id; check `/ops list`."
API_NO_COUNT = (
    "The API's list did not say how many operations it holds (no `count`); it may be misconfigured."
)
API_NO_RESULTS = (
    "The API answered without a list of operations (no `results`); it may be misconfigured."
)
API_UNREACHABLE = (
    "Could not reach the Zequenze API (connection refused or no route); nothing was sent."
)
API_TIMEOUT = "The Zequenze API did not answer in time."
API_CONNECTION_BROKE = "The connection to the Zequenze API broke before it answered."
API_TOKEN_INVALID = "The bot's API token is invalid or missing (HTTP 401): tell an admin."
API_TOKEN_FORBIDDEN = "The bot's API token is not allowed to do this (HTTP 403): tell an admin."
API_RATE_LIMITED = "The Zequenze API is rate-limiting the bot (HTTP 429); try again shortly."
API_INVALID_DATA = "invalid data."


def api_ignored_id_filter(operation_id: str) -> str:
    return (
        f"Asked for operation {operation_id} by id, the API answered with other operations; "
        "it may not support the id filter."
    )


def api_not_json(kind: str, status: int) -> str:
    return (
        f"The API answered with something that is not JSON ({kind}, HTTP {status}); "
        "it may be down or misconfigured."
    )


def api_refused_fields(errors: str) -> str:
    return f"The API refused the request: {errors}"


def api_unknown_device(device: str) -> str:
    return f"Device {device} is not in the inventory."


def api_said(detail: str) -> str:
    return f"The API said: {detail.rstrip('.')}."


def api_internal_error(status: int, *, creating: bool) -> str:
    message = f"The Zequenze API failed with an internal error (HTTP {status})."
    return message + (" The operation may or may not have been created." if creating else "")


def api_refused(status: int, detail: str) -> str:
    return f"The API refused the request (HTTP {status}): {detail}"


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


# Labels of `/ops status`'s answer.
DETAIL_PARAMETERS = "Parameters: "
DETAIL_CREATED = "Created "
DETAIL_ERROR = "Error: "

# What the store records when the bot died while a create call was in flight.
STOPPED_WHILE_SENDING = "The bot stopped while sending this operation."


def form_summary(operation_type: str, devices: str) -> str:
    """What a request made with the form is remembered as: the command it amounts to."""
    return f"{operation_type} on {devices} (from the form)"


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
BEING_SENT = "being sent as the freeze came"
NO_ID_YET = "no id yet"
NOT_LOOKED_AGAIN = (
    "The window is open now, so it runs now: what else runs on these devices was not looked "
    "for again. `/ops list <device>` shows it."
)
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
    return (
        f"{len(problems)} problems in the policy file (see the README's Policy section):\n{listed}"
    )


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
) -> str:
    changes = [f"{', '.join(replaced)} replaced"] if replaced else []
    changes += [f"{', '.join(added)} added"] if added else []
    told = f" ({'; '.join(changes)})" if changes else ""
    named = f", {plural(groups, 'group')} of devices" if groups else ""
    limit = f"; a request names at most {max_devices:,} devices" if max_devices else ""
    return (
        f"{source} is valid: {plural(rules, 'rule')}, {plural(windows, 'window')}, "
        f"{plural(types, 'operation type')}{told}{named}{limit}."
    )


RUNNING_NOW = "running now"
TIME_UNKNOWN = "at a time the API did not say"


def conflicts_heading(count: int) -> str:
    what = "an operation" if count == 1 else plural(count, "operation")
    return f"⚠️ *Conflicts*: the API holds {what} on these devices running now or within an hour:"


def conflict_line(*, api_id: str, device: str, operation_type: str, status: str, when: str) -> str:
    return f"• `{api_id}` · {device} · {operation_type} — {status}, {when}"


# --- waves ---------------------------------------------------------------------------------


def waves_need_size(phrase: str) -> str:
    return f"“{phrase}” needs a number of devices: in waves of 10, or 10 at a time."


def wave_size_not_a_number(phrase: str) -> str:
    return f"“{phrase}”: a wave is a whole number of devices, written in digits."


def wave_size_zero(phrase: str) -> str:
    return f"“{phrase}”: a wave needs at least one device."


def two_wave_sizes(sizes: Sequence[int]) -> str:
    return f"Two wave sizes ({and_list([str(n) for n in sizes])}): say one."


def one_wave(devices: int) -> str:
    make = "makes" if devices == 1 else "make"
    return f"{plural(devices, 'device')} {make} a single wave: all go at once."


def waves_plan(*, waves: int, size: int | None, canary: bool, first: str) -> str:
    """The confirmation's line: how the devices go, and the first wave's."""
    how = []
    if canary:
        how.append("a canary first")
    if size:
        how.append(f"then {size} at a time" if canary else f"{size} at a time")
    elif canary:
        how.append("then the rest together")
    return (
        f"🌊 *In {waves} waves* ({', '.join(how)}); each goes once the one before has ended "
        f"with no failure, and a failure holds the rest for you to continue or stop. "
        f"*Wave 1:* {first}"
    )


def wave_status(*, wave: int, waves: int, state: str | None, waiting: int) -> str:
    """The status message's wave line."""
    if state == "halted":
        return f"⏸️ *Halted after wave {wave} of {waves}:* {plural(waiting, 'device')} held."
    if state == "stopped":
        return f"⏹️ *Stopped after wave {wave} of {waves}:* the held devices were never sent."
    if wave == 0:
        return f"🌊 *{waves} waves*, the first when confirmed."
    more = f" · {plural(waiting, 'device')} waiting for their wave" if waiting else ""
    return f"🌊 *Wave {wave} of {waves}*{more}"


def wave_started(*, wave: int, waves: int, devices: str, canary: bool) -> str:
    what = "the canary" if canary else f"{devices}"
    return f"🌊 Wave {wave} of {waves} goes: {what}" + (f" ({devices})" if canary else "") + "."


def wave_halted(*, wave: int, waves: int, failed: Sequence[str], held: str, who: str) -> str:
    lines = [f"⏸️ *Wave {wave} of {waves} failed, so the request is halted.*"]
    lines += [f"❌ {line}" for line in failed]
    lines.append(f"Held, not sent: {held}.")
    lines.append(f"{who}: *Continue* sends wave {wave + 1}; *Stop* ends the request.")
    return "\n".join(lines)


def wave_failure(*, device: str, error: str) -> str:
    return f"{device}: {error}" if error else device


def wave_continued(*, who: str, wave: int, waves: int, devices: str) -> str:
    return f"▶️ {who} continued: wave {wave} of {waves} goes ({devices})."


def waves_stopped(*, who: str, held: str) -> str:
    """`held`: the devices, runs written as ranges with their count."""
    return f"⏹️ {who} stopped the request: {held} never sent."


# Plain text: an operation's error is escaped wherever it is shown (the thread says who).
STOPPED_ERROR = "stopped: never sent"


WAITING_FOR_WAVE = "waiting for its wave"
STOPPED = "stopped, never sent"
DEMO_NOTHING_HALTED = (
    "No request is halted: `continue` and `stop` answer a request halted after a failed wave."
)
CONTINUE = "Continue"
STOP = "Stop"
CONTINUE_ANSWER = "▶️ Continued: the next wave goes now."
STOP_ANSWER = "⏹️ Stopped: the held devices will not be sent."


def wave_state(state: str | None, *, wave: int, waves: int) -> str:
    """Where a request's waves stand, for a click that came too late to change them."""
    if state == "stopped":
        return "it was stopped"
    if state == "halted":
        return f"it is halted after wave {wave} now: use the newest buttons"
    if state == "going":
        return f"it goes on, wave {wave} of {waves}"
    return "it is not in waves"


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
