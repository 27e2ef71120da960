"""Typing a request: what the grammar refuses and why, and the examples it offers."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from difflib import get_close_matches

from bot.say.common import and_list, clipped, or_list, plural, quote
from bot.understand.typed import shows_itself

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


def range_ellipsis(written: str, meant: str) -> str:
    """`server-01…20`: an ellipsis, one character, where a range has two dots."""
    return (
        f"{quote(written)} is written with {character(chr(0x2026))}, one character that "
        f"keyboards make of typed dots: write a range with two plain dots, {meant}."
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
